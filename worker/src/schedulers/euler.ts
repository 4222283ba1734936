// Euler (Karras et al. 2022, Algorithm 2 without churn), as diffusers'
// EulerDiscreteScheduler with its defaults s_churn = 0 (so it never adds noise).

import type { SchedulerConfig } from './config.js';
import { eulerSigmaSchedule, scaleBySigma } from './euler-sigmas.js';
import { at } from './numeric.js';
import { type ImageScheduler, StepCursor } from './types.js';

export class EulerScheduler implements ImageScheduler {
  readonly kind = 'euler';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma: number;
  /** steps + 1 values; the last is the final sigma (0 by default). */
  readonly sigmas: Float64Array;
  private readonly cursor: StepCursor;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const schedule = eulerSigmaSchedule(config, steps, {
      karras: config.useKarrasSigmas,
      finalSigmasType: config.finalSigmasType,
    });
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
    this.stepCount = steps;
    this.cursor = new StepCursor(this.kind, steps);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array {
    return scaleBySigma(sample, at(this.sigmas, stepIndex), out);
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _noise?: unknown, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const sigma = at(this.sigmas, stepIndex);
    const dt = at(this.sigmas, stepIndex + 1) - sigma;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const sScale = 1 / (sigma * sigma + 1);
    const prediction = this.config.predictionType;
    for (let i = 0; i < sample.length; i++) {
      const s = at(sample, i);
      const m = at(modelOutput, i);
      const x0 = prediction === 'epsilon' ? s - sigma * m : prediction === 'v_prediction' ? m * vScale + s * sScale : m;
      const derivative = (s - x0) / sigma;
      result[i] = s + derivative * dt;
    }
    return result;
  }
}
