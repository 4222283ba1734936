import type { SchedulerKind } from './config.js';

/** Standard normal samples, drawn in element order (e.g. `SeededRandom.normalSource()`). */
export type NoiseSource = () => number;

/**
 * One image's denoising schedule and solver state. The worker batches UNet
 * calls across images at different steps (continuous batching), so each
 * image owns an instance and the scheduler only ever sees that image's latent
 * slice. Steps must be taken in order 0, 1, …, stepCount - 1.
 */
export interface ImageScheduler {
  readonly kind: SchedulerKind;
  /** The timestep the UNet gets at each step (fractional for Euler-family linspace/Karras). */
  readonly timesteps: Float64Array;
  /** UNet calls needed; PNDM's PLMS warm-up makes this steps + 1. */
  readonly stepCount: number;
  /** Initial latents are standard normal noise times this. */
  readonly initNoiseSigma: number;
  /**
   * The UNet's input at `stepIndex`. Euler-family schedulers divide by
   * sqrt(sigma² + 1) into `out` (a new array if omitted); the others return
   * `sample` itself.
   */
  scaleModelInput(sample: Float32Array, stepIndex: number, out?: Float32Array): Float32Array;
  /**
   * Advances one step and returns the latent for the next one (after the
   * last step: the clean latent for the VAE). Writes into `out` when given;
   * `out` may be `sample` itself. `noise` is required by euler_ancestral,
   * multi-step lcm and ddim with eta > 0.
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise?: NoiseSource, out?: Float32Array): Float32Array;
}

/** Tracks the next expected step and checks the arguments of each `step` call. */
export class StepCursor {
  private next = 0;

  constructor(
    private readonly kind: SchedulerKind,
    private readonly stepCount: number,
  ) {}

  /** Throws unless `stepIndex` is the next step and the arrays agree in length; then advances. */
  advance(stepIndex: number, modelOutput: Float32Array, sample: Float32Array, out: Float32Array | undefined): void {
    if (stepIndex !== this.next || stepIndex >= this.stepCount) {
      throw new RangeError(
        `${this.kind}: expected step ${this.next} of ${this.stepCount}, got ${stepIndex} (steps run once, in order)`,
      );
    }
    if (modelOutput.length !== sample.length || (out !== undefined && out.length !== sample.length)) {
      throw new RangeError(`${this.kind}: model output, sample and out must have the same length`);
    }
    this.next++;
  }
}

export function requireNoise(kind: SchedulerKind, noise: NoiseSource | undefined): NoiseSource {
  if (noise === undefined) throw new TypeError(`${kind}: this step adds noise; pass a noise source`);
  return noise;
}
