// Latent Consistency Model sampling (Luo et al. 2023), as diffusers'
// LCMScheduler: each step predicts the clean latent through the consistency
// boundary-condition scalings c_skip/c_out, then (except at the last step)
// re-noises it to the next timestep with fresh noise from the image's source.

import { type SchedulerConfig, SchedulerConfigError } from './config.js';
import { alphasCumprod } from './schedule.js';
import { at, linspace } from './numeric.js';
import { type ImageScheduler, type NoiseSource, StepCursor, requireNoise } from './types.js';

/** sigma_data of the consistency-model parametrisation. */
const SIGMA_DATA = 0.5;

export class LcmScheduler implements ImageScheduler {
  readonly kind = 'lcm';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma = 1;
  private readonly cumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly cursor: StepCursor;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const original = config.originalInferenceSteps;
    const T = config.numTrainTimesteps;
    if (original > T) {
      throw new SchedulerConfigError('lcm', 'original_inference_steps', `(${original}) exceeds num_train_timesteps (${T})`);
    }
    if (steps > original) {
      throw new RangeError(`lcm: steps (${steps}) must be at most original_inference_steps (${original})`);
    }
    this.cumprod = alphasCumprod(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : at(this.cumprod, 0);
    // The distillation schedule k-1, 2k-1, …, T-1 (k = T // original), high to low,
    // sampled at evenly spaced (floored) positions.
    const k = Math.floor(T / original);
    const origin = Float64Array.from({ length: original }, (_, i) => (original - i) * k - 1);
    const positions = linspace(0, original, steps, false);
    this.timesteps = positions.map((p) => at(origin, Math.floor(p)));
    this.stepCount = steps;
    this.cursor = new StepCursor(this.kind, steps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** c_skip and c_out at a timestep (diffusers' get_scalings_for_boundary_condition_discrete). */
  boundaryScalings(timestep: number): { readonly cSkip: number; readonly cOut: number } {
    const scaled = timestep * this.config.timestepScaling;
    const denom = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
    return { cSkip: (SIGMA_DATA * SIGMA_DATA) / denom, cOut: scaled / Math.sqrt(denom) };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const t = at(this.timesteps, stepIndex);
    const last = stepIndex === this.stepCount - 1;
    const prevT = last ? t : at(this.timesteps, stepIndex + 1);
    const alphaT = at(this.cumprod, t);
    const alphaPrev = prevT >= 0 ? at(this.cumprod, prevT) : this.finalAlphaCumprod;
    const sqrtAlphaT = Math.sqrt(alphaT);
    const sqrtBetaT = Math.sqrt(1 - alphaT);
    const sqrtAlphaPrev = Math.sqrt(alphaPrev);
    const sqrtBetaPrev = Math.sqrt(1 - alphaPrev);
    const { cSkip, cOut } = this.boundaryScalings(t);
    const { predictionType, clipSample, clipSampleRange: range } = this.config;
    const draw = last ? undefined : requireNoise(this.kind, noise);
    for (let i = 0; i < sample.length; i++) {
      const s = at(sample, i);
      const m = at(modelOutput, i);
      let x0 =
        predictionType === 'epsilon'
          ? (s - sqrtBetaT * m) / sqrtAlphaT
          : predictionType === 'v_prediction'
            ? sqrtAlphaT * s - sqrtBetaT * m
            : m;
      if (clipSample) x0 = Math.min(Math.max(x0, -range), range);
      const denoised = cOut * x0 + cSkip * s;
      result[i] = draw === undefined ? denoised : sqrtAlphaPrev * denoised + sqrtBetaPrev * draw();
    }
    return result;
  }
}
