// The deterministic inputs of diffusers' scheduler tests
// (tests/schedulers/test_schedulers.py, SchedulerCommonTest), so our
// schedulers can be checked against the result sums those tests publish.
// Used by tests only.

import { at, f32 } from './numeric.js';
import type { ImageScheduler, NoiseSource } from './types.js';

/** runwayml/stable-diffusion-v1-5 scheduler/scheduler_config.json */
export const SD15_SCHEDULER_JSON = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

/**
 * dummy_sample_deter: torch.arange(4*3*8*8) / 768, reshaped and permuted to
 * (4, 3, 8, 8). The schedulers and the dummy model act element-wise and the
 * tests only look at sum/mean of |x|, so the layout does not matter.
 */
export function dummySampleDeter(): Float32Array {
  const n = 4 * 3 * 8 * 8;
  return Float32Array.from({ length: n }, (_, i) => i / n);
}

/** dummy_model: sample * t / (t + 1), in float32 as torch computes it. */
export function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tt = f32(t);
  return sample.map((s) => f32(f32(s * tt) / f32(tt + 1)));
}

export function sumAbs(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += Math.abs(v);
  return sum;
}

export function meanAbs(values: Float32Array): number {
  return sumAbs(values) / values.length;
}

/** The full_loop of diffusers' DDIM/PNDM/DPM/LCM tests: model(sample, t), then step. */
export function fullLoop(scheduler: ImageScheduler, noise?: NoiseSource): Float32Array {
  let sample: Float32Array = dummySampleDeter();
  for (let i = 0; i < scheduler.stepCount; i++) {
    sample = scheduler.step(dummyModel(sample, at(scheduler.timesteps, i)), i, sample, noise);
  }
  return sample;
}

/**
 * The loop of diffusers' Euler-family tests, quirk included: they overwrite
 * `sample` with scale_model_input's result and pass that scaled sample to
 * step. The published sums depend on it, so we reproduce it.
 */
export function eulerTestLoop(scheduler: ImageScheduler, noise?: NoiseSource): Float32Array {
  let sample: Float32Array = dummySampleDeter().map((v) => f32(v * scheduler.initNoiseSigma));
  for (let i = 0; i < scheduler.stepCount; i++) {
    sample = scheduler.scaleModelInput(sample, i);
    sample = scheduler.step(dummyModel(sample, at(scheduler.timesteps, i)), i, sample, noise);
  }
  return sample;
}
