// Scheduler settings, read from diffusers' scheduler/scheduler_config.json and
// overridable per job.
//
// diffusers' rule when one scheduler is built from another's config (what a
// user does when they pick Euler for an SD 1.5 export that ships a PNDM
// config): keys present in the file win, missing keys take the *target*
// scheduler's own defaults. `resolveSchedulerConfig` does the same, so Euler
// on SD 1.5 gets timestep_spacing "linspace" while DDIM gets "leading".

import { LatentfarmError } from '@latentfarm/common';
import { SCHEDULER_NAMES, schedulerByName, type SchedulerName } from '@latentfarm/proto';

/** The farm's scheduler table (in @latentfarm/proto) names the kinds; each has an implementation here. */
export const SCHEDULER_KINDS = SCHEDULER_NAMES;
export type SchedulerKind = SchedulerName;

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type TimestepSpacing = 'leading' | 'linspace' | 'trailing';
export type FinalSigmasType = 'zero' | 'sigma_min';

/** Every setting, defaults applied. Names are diffusers' keys in camelCase. */
export interface SchedulerConfig {
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaSchedule;
  /** Explicit betas; when set they replace betaStart/betaEnd/betaSchedule. */
  readonly trainedBetas: readonly number[] | undefined;
  readonly predictionType: PredictionType;
  readonly stepsOffset: number;
  readonly timestepSpacing: TimestepSpacing;
  /** DDIM/PNDM/LCM: alpha product "before" step 0 is 1 (true) or alphas_cumprod[0] (false). */
  readonly setAlphaToOne: boolean;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  /** Euler and DPM-Solver++: Karras et al. (2022) sigma spacing. */
  readonly useKarrasSigmas: boolean;
  /** PNDM: false runs diffusers' Runge–Kutta warm-up (PRK); SD ships true (PLMS only). */
  readonly skipPrkSteps: boolean;
  /** DPM-Solver++: 1 or 2 (diffusers also has 3; not offered). */
  readonly solverOrder: 1 | 2;
  readonly lowerOrderFinal: boolean;
  readonly eulerAtFinal: boolean;
  readonly finalSigmasType: FinalSigmasType;
  /** LCM: the distillation schedule's step count the inference timesteps are picked from. */
  readonly originalInferenceSteps: number;
  readonly timestepScaling: number;
}

/** Some settings, e.g. a parsed scheduler_config.json or a job's overrides. */
export type SchedulerConfigInput = { readonly [K in keyof SchedulerConfig]?: SchedulerConfig[K] };

/** scheduler_config.json or a job's scheduler override is invalid or asks for something unsupported. */
export class SchedulerConfigError extends LatentfarmError {
  constructor(
    readonly source: string,
    readonly key: string,
    message: string,
  ) {
    super(`${source}: ${key} ${message}`);
  }
}

/** diffusers' defaults shared by the schedulers here (DDPM/DDIM/PNDM/Euler/DPM). */
const COMMON_DEFAULTS: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: undefined,
  predictionType: 'epsilon',
  stepsOffset: 0,
  timestepSpacing: 'leading',
  setAlphaToOne: true,
  clipSample: true,
  clipSampleRange: 1,
  useKarrasSigmas: false,
  skipPrkSteps: false,
  solverOrder: 2,
  lowerOrderFinal: true,
  eulerAtFinal: false,
  finalSigmasType: 'zero',
  originalInferenceSteps: 50,
  timestepScaling: 10,
};

/** Each diffusers class's own defaults where they differ from the common ones, from the scheduler table; read once. */
const kindDefaults = new Map<SchedulerKind, SchedulerConfigInput>();

function defaultsOf(kind: SchedulerKind): SchedulerConfigInput {
  let d = kindDefaults.get(kind);
  if (d === undefined) {
    const row = schedulerByName(kind);
    if (row === undefined) throw new SchedulerConfigError('the scheduler table', kind, 'is not a scheduler it lists');
    d = parseSchedulerConfig(row.diffusersDefaults, `the scheduler table's ${kind} defaults`);
    kindDefaults.set(kind, d);
  }
  return d;
}

/** Defaults of `kind`, then each input in order (file config, then job overrides). */
export function resolveSchedulerConfig(kind: SchedulerKind, ...inputs: SchedulerConfigInput[]): SchedulerConfig {
  const merged: Record<string, unknown> = { ...COMMON_DEFAULTS, ...defaultsOf(kind) };
  for (const input of inputs) {
    for (const [key, value] of Object.entries(input)) if (value !== undefined) merged[key] = value;
  }
  return merged as unknown as SchedulerConfig;
}

type Reader = (source: string, key: string, value: unknown) => unknown;

const positiveInt: Reader = (source, key, value) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new SchedulerConfigError(source, key, `must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
};
const nonNegativeInt: Reader = (source, key, value) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new SchedulerConfigError(source, key, `must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
};
const positiveNumber: Reader = (source, key, value) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new SchedulerConfigError(source, key, `must be a positive number, got ${JSON.stringify(value)}`);
  }
  return value;
};
const bool: Reader = (source, key, value) => {
  if (typeof value !== 'boolean') throw new SchedulerConfigError(source, key, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
};
const oneOf =
  (...allowed: readonly (string | number)[]): Reader =>
  (source, key, value) => {
    if (!allowed.includes(value as string | number)) {
      throw new SchedulerConfigError(source, key, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
    }
    return value;
  };
const betaList: Reader = (source, key, value) => {
  if (value === null) return undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((b) => typeof b === 'number' && b > 0 && b < 1)) {
    throw new SchedulerConfigError(source, key, 'must be null or a list of numbers in (0, 1)');
  }
  return value;
};

/** diffusers key → [our key, reader]. */
const KEYS: Record<string, readonly [keyof SchedulerConfig, Reader]> = {
  num_train_timesteps: ['numTrainTimesteps', positiveInt],
  beta_start: ['betaStart', positiveNumber],
  beta_end: ['betaEnd', positiveNumber],
  beta_schedule: ['betaSchedule', oneOf('linear', 'scaled_linear', 'squaredcos_cap_v2')],
  trained_betas: ['trainedBetas', betaList],
  prediction_type: ['predictionType', oneOf('epsilon', 'v_prediction', 'sample')],
  steps_offset: ['stepsOffset', nonNegativeInt],
  timestep_spacing: ['timestepSpacing', oneOf('leading', 'linspace', 'trailing')],
  set_alpha_to_one: ['setAlphaToOne', bool],
  clip_sample: ['clipSample', bool],
  clip_sample_range: ['clipSampleRange', positiveNumber],
  use_karras_sigmas: ['useKarrasSigmas', bool],
  skip_prk_steps: ['skipPrkSteps', bool],
  solver_order: ['solverOrder', oneOf(1, 2)],
  lower_order_final: ['lowerOrderFinal', bool],
  euler_at_final: ['eulerAtFinal', bool],
  final_sigmas_type: ['finalSigmasType', oneOf('zero', 'sigma_min')],
  original_inference_steps: ['originalInferenceSteps', positiveInt],
  timestep_scaling: ['timestepScaling', positiveNumber],
};

/**
 * Settings that would change the result but are not implemented: refusing
 * them is better than silently rendering something diffusers would not.
 * The value listed is the only one accepted.
 */
const UNSUPPORTED: Record<string, unknown> = {
  thresholding: false,
  rescale_betas_zero_snr: false,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  interpolation_type: 'linear',
  timestep_type: 'discrete',
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  variance_type: null,
  lambda_min_clipped: null,
  sigma_min: null,
  sigma_max: null,
  s_churn: 0,
};

/**
 * Reads diffusers-style snake_case settings (scheduler_config.json, or a job's
 * overrides in the same form). Keys diffusers would ignore for another class
 * (`_class_name`, `skip_prk_steps` for Euler…) are accepted and ignored here too.
 */
export function parseSchedulerConfig(json: unknown, source = 'scheduler_config.json'): SchedulerConfigInput {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SchedulerConfigError(source, '(root)', 'must be a JSON object');
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const known = KEYS[key];
    if (known !== undefined) {
      if (value === null && key !== 'trained_betas') continue; // null means "use the default"
      const parsed = known[1](source, key, value);
      if (parsed !== undefined) out[known[0]] = parsed;
    } else if (key in UNSUPPORTED) {
      const accepted = UNSUPPORTED[key];
      const isDefault =
        value === accepted ||
        value === null ||
        (key === 'lambda_min_clipped' && value === Number.NEGATIVE_INFINITY) ||
        (key === 'variance_type' && value === 'fixed_small');
      if (!isDefault) {
        throw new SchedulerConfigError(source, key, `${JSON.stringify(value)} is not supported (only ${JSON.stringify(accepted)})`);
      }
    }
  }
  return out as SchedulerConfigInput;
}
