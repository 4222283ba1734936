// Euler ancestral (k-diffusion's sample_euler_ancestral), as diffusers'
// EulerAncestralDiscreteScheduler: a deterministic Euler step down to
// sigma_down, then fresh noise of size sigma_up, drawn from the image's own
// noise source.

import type { SchedulerConfig } from './config.js';
import { eulerSigmaSchedule, scaleBySigma } from './euler-sigmas.js';
import { at } from './numeric.js';
import { type ImageScheduler, type NoiseSource, StepCursor, requireNoise } from './types.js';

export class EulerAncestralScheduler implements ImageScheduler {
  readonly kind = 'euler_ancestral';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma: number;
  /** steps + 1 values ending in 0. */
  readonly sigmas: Float64Array;
  private readonly cursor: StepCursor;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    // diffusers' ancestral Euler has no Karras option and always ends at sigma 0.
    const schedule = eulerSigmaSchedule(config, steps, { karras: false, finalSigmasType: 'zero' });
    this.timesteps = schedule.timesteps;
    this.sigmas = schedule.sigmas;
    this.initNoiseSigma = schedule.initNoiseSigma;
    this.stepCount = steps;
    this.cursor = new StepCursor(this.kind, steps);
  }

  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array {
    return scaleBySigma(sample, at(this.sigmas, stepIndex), out);
  }

  /** The noise split of a step: deterministic target sigma_down and added noise sigma_up. */
  ancestralSigmas(stepIndex: number): { readonly sigmaDown: number; readonly sigmaUp: number } {
    const from = at(this.sigmas, stepIndex);
    const to = at(this.sigmas, stepIndex + 1);
    const sigmaUp = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
    return { sigmaDown: Math.sqrt(to * to - sigmaUp * sigmaUp), sigmaUp };
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const sigma = at(this.sigmas, stepIndex);
    const { sigmaDown, sigmaUp } = this.ancestralSigmas(stepIndex);
    // The last step goes to sigma 0 and adds nothing, so it needs no noise source.
    const draw = sigmaUp > 0 ? requireNoise(this.kind, noise) : undefined;
    const dt = sigmaDown - sigma;
    const vScale = -sigma / Math.sqrt(sigma * sigma + 1);
    const sScale = 1 / (sigma * sigma + 1);
    const prediction = this.config.predictionType;
    for (let i = 0; i < sample.length; i++) {
      const s = at(sample, i);
      const m = at(modelOutput, i);
      const x0 = prediction === 'epsilon' ? s - sigma * m : prediction === 'v_prediction' ? m * vScale + s * sScale : m;
      let prev = s + ((s - x0) / sigma) * dt;
      if (draw !== undefined) prev += draw() * sigmaUp;
      result[i] = prev;
    }
    return result;
  }
}
