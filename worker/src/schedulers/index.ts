// Public face of the schedulers: build one ImageScheduler per image.

import { InvalidArgumentError } from '@latentfarm/common';
import { SCHEDULER_KINDS, type SchedulerConfig, type SchedulerKind } from './config.js';
import { DdimScheduler } from './ddim.js';
import { DpmSolverMultistepScheduler } from './dpm-solver.js';
import { EulerAncestralScheduler } from './euler-ancestral.js';
import { EulerScheduler } from './euler.js';
import { LcmScheduler } from './lcm.js';
import { PndmScheduler } from './pndm.js';
import type { ImageScheduler } from './types.js';

export {
  SCHEDULER_KINDS,
  SchedulerConfigError,
  parseSchedulerConfig,
  resolveSchedulerConfig,
  type BetaSchedule,
  type FinalSigmasType,
  type PredictionType,
  type SchedulerConfig,
  type SchedulerConfigInput,
  type SchedulerKind,
  type TimestepSpacing,
} from './config.js';
export type { ImageScheduler, NoiseSource } from './types.js';

export interface CreateSchedulerOptions {
  /** DDIM only: 0 (default) is deterministic; > 0 adds noise and needs a noise source. */
  readonly eta?: number;
}

export function isSchedulerKind(value: string): value is SchedulerKind {
  return (SCHEDULER_KINDS as readonly string[]).includes(value);
}

/**
 * A fresh scheduler for one image. `config` is the resolved configuration
 * (`resolveSchedulerConfig(kind, parseSchedulerConfig(fileJson), jobOverrides)`).
 */
export function createScheduler(
  kind: SchedulerKind,
  config: SchedulerConfig,
  steps: number,
  options: CreateSchedulerOptions = {},
): ImageScheduler {
  if (!isSchedulerKind(kind)) {
    throw new InvalidArgumentError('scheduler', `unknown scheduler ${JSON.stringify(kind)}; one of ${SCHEDULER_KINDS.join(', ')}`);
  }
  if (options.eta !== undefined && !(options.eta >= 0 && options.eta <= 1)) {
    throw new InvalidArgumentError('eta', `must be between 0 and 1, got ${options.eta}`);
  }
  if (!Number.isInteger(steps) || steps < 1 || steps > config.numTrainTimesteps) {
    throw new InvalidArgumentError('steps', `must be an integer from 1 to ${config.numTrainTimesteps}, got ${steps}`);
  }
  try {
    switch (kind) {
      case 'ddim':
        return new DdimScheduler(config, steps, options);
      case 'pndm':
        return new PndmScheduler(config, steps);
      case 'euler':
        return new EulerScheduler(config, steps);
      case 'euler_ancestral':
        return new EulerAncestralScheduler(config, steps);
      case 'dpmpp_2m':
        return new DpmSolverMultistepScheduler(config, steps);
      case 'lcm':
        return new LcmScheduler(config, steps);
    }
  } catch (cause) {
    // Constructors throw RangeError for step counts a scheduler cannot run (PRK below 4, LCM beyond its schedule).
    if (cause instanceof RangeError) throw new InvalidArgumentError('steps', cause.message, { cause });
    throw cause;
  }
}
