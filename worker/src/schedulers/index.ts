// Public face of the schedulers: build one ImageScheduler per image.

import { InvalidArgumentError } from '@latentfarm/common';
import { isSchedulerName } from '@latentfarm/proto';
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
  return isSchedulerName(value);
}

type Implementation = (config: SchedulerConfig, steps: number, options: CreateSchedulerOptions) => ImageScheduler;

/**
 * Each name in the farm's scheduler table and the class that implements it.
 * Keyed by the table's names, so a row without an implementation does not compile.
 */
const IMPLEMENTATIONS: { readonly [K in SchedulerKind]: Implementation } = {
  ddim: (config, steps, options) => new DdimScheduler(config, steps, options),
  pndm: (config, steps) => new PndmScheduler(config, steps),
  euler: (config, steps) => new EulerScheduler(config, steps),
  euler_ancestral: (config, steps) => new EulerAncestralScheduler(config, steps),
  dpmpp_2m: (config, steps) => new DpmSolverMultistepScheduler(config, steps),
  lcm: (config, steps) => new LcmScheduler(config, steps),
};

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
    return IMPLEMENTATIONS[kind](config, steps, options);
  } catch (cause) {
    // Constructors throw RangeError for step counts a scheduler cannot run (PRK below 4, LCM beyond its schedule).
    if (cause instanceof RangeError) throw new InvalidArgumentError('steps', cause.message, { cause });
    throw cause;
  }
}
