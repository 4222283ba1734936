// Timesteps and sigmas of diffusers' Euler-family schedulers
// (EulerDiscreteScheduler, EulerAncestralDiscreteScheduler): float timesteps
// (linspace spacing is not rounded), sigmas interpolated from the training
// sigmas at those timesteps, optionally respaced à la Karras, then a final
// sigma of 0.

import type { SchedulerConfig } from './config.js';
import { at, f32, interpOnIndex, linspace, reversed } from './numeric.js';
import { alphasCumprod, karrasSigmas, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './schedule.js';

export interface SigmaSchedule {
  /** float32 values, high to low */
  readonly timesteps: Float64Array;
  /** float32 values, one more than timesteps (the last is the final sigma) */
  readonly sigmas: Float64Array;
  readonly initNoiseSigma: number;
}

export function eulerSigmaSchedule(
  config: SchedulerConfig,
  steps: number,
  options: { readonly karras: boolean; readonly finalSigmasType: SchedulerConfig['finalSigmasType'] },
): SigmaSchedule {
  const T = config.numTrainTimesteps;
  let timesteps: Float64Array =
    config.timestepSpacing === 'linspace'
      ? reversed(linspace(0, T - 1, steps).map(f32))
      : spacedTimesteps(config.timestepSpacing, T, steps, config.stepsOffset);
  const train = trainingSigmas(alphasCumprod(config));
  let sigmas: Float64Array = timesteps.map((t) => interpOnIndex(t, train));
  if (options.karras) {
    // Respaced between this run's own largest and smallest sigma, as diffusers' Euler does.
    sigmas = karrasSigmas(at(sigmas, sigmas.length - 1), at(sigmas, 0), steps);
    const logSigmas = train.map((s) => f32(Math.log(s)));
    timesteps = sigmas.map((s) => f32(sigmaToTimestep(s, logSigmas)));
  }
  const finalSigma = options.finalSigmasType === 'zero' ? 0 : at(train, 0);
  const withFinal = new Float64Array(steps + 1);
  withFinal.set(sigmas.map(f32));
  withFinal[steps] = f32(finalSigma);
  const maxSigma = Math.max(...withFinal);
  // diffusers' init_noise_sigma: sqrt(max² + 1) for leading spacing, max for linspace and trailing.
  const initNoiseSigma =
    config.timestepSpacing === 'leading' ? Math.sqrt(maxSigma * maxSigma + 1) : maxSigma;
  return { timesteps: timesteps.map(f32), sigmas: withFinal, initNoiseSigma };
}

/** sample / sqrt(sigma² + 1): the Euler-family model input scaling. */
export function scaleBySigma(sample: Float32Array, sigma: number, out?: Float32Array): Float32Array {
  const result = out ?? new Float32Array(sample.length);
  const scale = Math.sqrt(sigma * sigma + 1);
  for (let i = 0; i < sample.length; i++) result[i] = at(sample, i) / scale;
  return result;
}
