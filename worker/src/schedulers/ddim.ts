// DDIM (Song et al. 2020), as diffusers' DDIMScheduler.

import type { SchedulerConfig } from './config.js';
import { alphasCumprod, spacedTimesteps } from './schedule.js';
import { at } from './numeric.js';
import { type ImageScheduler, type NoiseSource, StepCursor, requireNoise } from './types.js';

export interface DdimOptions {
  /** 0 = deterministic DDIM (the default); 1 = DDPM-like ancestral noise. */
  readonly eta?: number;
}

export class DdimScheduler implements ImageScheduler {
  readonly kind = 'ddim';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma = 1;
  private readonly cumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly stride: number;
  private readonly eta: number;
  private readonly cursor: StepCursor;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
    options: DdimOptions = {},
  ) {
    this.cumprod = alphasCumprod(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : at(this.cumprod, 0);
    this.timesteps = spacedTimesteps(config.timestepSpacing, config.numTrainTimesteps, steps, config.stepsOffset);
    this.stepCount = steps;
    // diffusers steps back by T // steps whatever the spacing (for trailing and
    // linspace that is not exactly the next timestep); we keep its choice.
    this.stride = Math.floor(config.numTrainTimesteps / steps);
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0)) throw new RangeError(`ddim: eta must be >= 0, got ${this.eta}`);
    this.cursor = new StepCursor(this.kind, steps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const t = at(this.timesteps, stepIndex);
    const prevT = t - this.stride;
    const alphaT = at(this.cumprod, t);
    const alphaPrev = prevT >= 0 ? at(this.cumprod, prevT) : this.finalAlphaCumprod;
    const betaT = 1 - alphaT;
    const sqrtAlphaT = Math.sqrt(alphaT);
    const sqrtBetaT = Math.sqrt(betaT);
    // Formula (16) of the DDIM paper: sigma_t(eta).
    const variance = ((1 - alphaPrev) / betaT) * (1 - alphaT / alphaPrev);
    const std = this.eta * Math.sqrt(variance);
    const dirCoeff = Math.sqrt(1 - alphaPrev - std * std);
    const sqrtAlphaPrev = Math.sqrt(alphaPrev);
    const draw = std > 0 ? requireNoise(this.kind, noise) : undefined;
    const { predictionType, clipSample, clipSampleRange: range } = this.config;

    for (let i = 0; i < sample.length; i++) {
      const s = at(sample, i);
      const m = at(modelOutput, i);
      let x0: number;
      let eps: number;
      if (predictionType === 'epsilon') {
        x0 = (s - sqrtBetaT * m) / sqrtAlphaT;
        eps = m;
      } else if (predictionType === 'v_prediction') {
        x0 = sqrtAlphaT * s - sqrtBetaT * m;
        eps = sqrtAlphaT * m + sqrtBetaT * s;
      } else {
        x0 = m;
        eps = (s - sqrtAlphaT * x0) / sqrtBetaT;
      }
      // Clipping applies to x0 only; eps stays the unclipped prediction (diffusers' default).
      if (clipSample) x0 = Math.min(Math.max(x0, -range), range);
      let prev = sqrtAlphaPrev * x0 + dirCoeff * eps;
      if (draw !== undefined) prev += std * draw();
      result[i] = prev;
    }
    return result;
  }
}
