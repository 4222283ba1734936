// The noise schedule shared by every scheduler: betas, alphas_cumprod, the
// inference timesteps for each spacing, and the sigma (Karras/k-diffusion)
// view of the same schedule. Values follow diffusers step by step, including
// where it computes in float32 (torch tensors) and rounds with np.round.

import type { SchedulerConfig, TimestepSpacing } from './config.js';
import { at, f32, linspace, reversed, roundHalfEven } from './numeric.js';

/** Betas as diffusers builds them (torch float32). */
export function betas(config: SchedulerConfig): Float64Array {
  const n = config.numTrainTimesteps;
  if (config.trainedBetas !== undefined) return Float64Array.from(config.trainedBetas, f32);
  switch (config.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(config.betaStart, config.betaEnd, n);
    case 'scaled_linear':
      // Latent diffusion's schedule: linear in sqrt(beta).
      return torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((b) => f32(b * b));
    case 'squaredcos_cap_v2': {
      // Improved DDPM's cosine schedule (diffusers' betas_for_alpha_bar).
      const alphaBar = (t: number): number => Math.cos(((t + 0.008) / 1.008) * Math.PI * 0.5) ** 2;
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
      return out;
    }
  }
}

/**
 * torch.linspace(start, stop, n, dtype=torch.float32) as torch's scalar CPU
 * kernel computes it: float32 step, the first half counted up from start and
 * the second half down from stop. (Its vectorised path can differ in the last
 * bit; either way betas agree with diffusers' to about 1e-7 relative.)
 */
function torchLinspaceF32(start: number, stop: number, n: number): Float64Array {
  const a = f32(start);
  const b = f32(stop);
  if (n === 1) return Float64Array.of(a);
  const step = f32(f32(b - a) / (n - 1));
  const half = Math.floor(n / 2);
  return Float64Array.from({ length: n }, (_, i) => (i < half ? f32(a + f32(step * i)) : f32(b - f32(step * (n - i - 1)))));
}

/**
 * Cumulative product of (1 - beta) as a float32 tensor. torch.cumprod on CPU
 * accumulates float32 in double and rounds each output, so we do the same.
 */
export function alphasCumprod(config: SchedulerConfig): Float64Array {
  const b = betas(config);
  const out = new Float64Array(b.length);
  let acc = 1;
  for (let i = 0; i < b.length; i++) {
    acc *= f32(1 - at(b, i));
    out[i] = f32(acc);
  }
  return out;
}

/**
 * Integer inference timesteps, high to low, as DDIM/PNDM/Euler(leading,
 * trailing) compute them:
 *  - leading:  arange(n) * (T // n), reversed, + steps_offset  (SD 1.x: 981, 961, …, 1)
 *  - linspace: round(linspace(0, T - 1, n)), reversed
 *  - trailing: round(arange(T, 0, -T / n)) - 1                (999, 979, …, 19)
 * For trailing we compute T - i·T/n for i < n instead of NumPy's arange with a
 * float step, which for some n (61, 103, … of 1000) returns n + 1 values
 * ending in -1; for every other n the values are identical.
 */
export function spacedTimesteps(spacing: TimestepSpacing, numTrain: number, steps: number, stepsOffset: number): Float64Array {
  const out = new Float64Array(steps);
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(numTrain / steps);
      for (let i = 0; i < steps; i++) out[i] = (steps - 1 - i) * ratio + stepsOffset;
      return out;
    }
    case 'linspace':
      return reversed(linspace(0, numTrain - 1, steps).map(roundHalfEven));
    case 'trailing': {
      const ratio = numTrain / steps;
      for (let i = 0; i < steps; i++) out[i] = roundHalfEven(numTrain - i * ratio) - 1;
      return out;
    }
  }
}

/** sigma(t) = sqrt((1 - ᾱ_t) / ᾱ_t) for every training timestep (float32, as diffusers). */
export function trainingSigmas(cumprod: Float64Array): Float64Array {
  return cumprod.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/** Karras et al. (2022) spacing between the largest and smallest sigma, rho = 7. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, steps: number): Float64Array {
  const rho = 7;
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, steps).map((ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
}

/**
 * The (fractional) training timestep whose sigma is `sigma`: diffusers'
 * _sigma_to_t, linear interpolation in log sigma between neighbours.
 * `logSigmas` is ascending (log of trainingSigmas, float32).
 */
export function sigmaToTimestep(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // Last index whose log sigma is <= logSigma (0 if none), kept below the end.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - at(logSigmas, i) >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = at(logSigmas, low);
  const hi = at(logSigmas, low + 1);
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}
