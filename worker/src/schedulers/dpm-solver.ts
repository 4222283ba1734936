// DPM-Solver++(2M) (Lu et al. 2022), as diffusers' DPMSolverMultistepScheduler
// with algorithm_type "dpmsolver++", solver_type "midpoint", solver_order 2
// (1 is also allowed), optionally on Karras sigmas.
//
// The solver works on x0 predictions in the sigma parametrisation: for a
// sigma, alpha_t = 1/sqrt(sigma²+1), sigma_t = sigma·alpha_t and
// lambda = log(alpha_t / sigma_t). The second-order step reuses the previous
// step's x0 prediction, which this per-image instance keeps.

import type { SchedulerConfig } from './config.js';
import { at, f32, interpOnIndex, linspace, reversed, roundHalfEven } from './numeric.js';
import { alphasCumprod, karrasSigmas, sigmaToTimestep, trainingSigmas } from './schedule.js';
import { type ImageScheduler, StepCursor } from './types.js';

export class DpmSolverMultistepScheduler implements ImageScheduler {
  readonly kind = 'dpmpp_2m';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma = 1;
  /** steps + 1 values; the last is the final sigma (0 by default). */
  readonly sigmas: Float64Array;
  private readonly cursor: StepCursor;
  /** The previous step's x0 prediction; undefined until one step ran. */
  private previousX0: Float32Array | undefined;
  private currentX0: Float32Array | undefined;
  private lowerOrderNums = 0;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    const T = config.numTrainTimesteps;
    const train = trainingSigmas(alphasCumprod(config));
    let timesteps = dpmTimesteps(config, steps);
    let sigmas: Float64Array;
    if (config.useKarrasSigmas) {
      // Respaced over the whole training range; the UNet gets the rounded matching timesteps.
      sigmas = karrasSigmas(at(train, 0), at(train, T - 1), steps);
      const logSigmas = train.map((s) => f32(Math.log(s)));
      timesteps = sigmas.map((s) => roundHalfEven(sigmaToTimestep(s, logSigmas)));
    } else {
      sigmas = timesteps.map((t) => interpOnIndex(t, train));
    }
    this.sigmas = new Float64Array(steps + 1);
    this.sigmas.set(sigmas.map(f32));
    this.sigmas[steps] = config.finalSigmasType === 'zero' ? 0 : at(train, 0);
    this.timesteps = timesteps;
    this.stepCount = steps;
    this.cursor = new StepCursor(this.kind, steps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _noise?: unknown, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const n = this.stepCount;
    const { lowerOrderFinal, solverOrder } = this.config;
    // diffusers drops to first order at the end for stability with few steps,
    // and always when the final sigma is 0 (the second-order term would divide by an infinite h).
    const lastIsFirstOrder =
      stepIndex === n - 1 &&
      (this.config.eulerAtFinal || (lowerOrderFinal && n < 15) || this.config.finalSigmasType === 'zero');

    // Swap buffers: the x0 computed now becomes "previous" for the next step.
    const x0 = this.previousX0 !== undefined && this.previousX0.length === sample.length ? this.previousX0 : new Float32Array(sample.length);
    this.previousX0 = this.currentX0;
    this.currentX0 = x0;
    this.convertToX0(modelOutput, sample, stepIndex, x0);

    const firstOrder = solverOrder === 1 || this.lowerOrderNums < 1 || lastIsFirstOrder;
    const previous = this.previousX0;
    if (firstOrder || previous === undefined) this.firstOrderUpdate(x0, sample, stepIndex, result);
    else this.secondOrderUpdate(x0, previous, sample, stepIndex, result);
    if (this.lowerOrderNums < solverOrder) this.lowerOrderNums++;
    return result;
  }

  private convertToX0(m: Float32Array, sample: Float32Array, stepIndex: number, x0: Float32Array): void {
    const { alpha, sigma } = alphaSigma(at(this.sigmas, stepIndex));
    const prediction = this.config.predictionType;
    for (let i = 0; i < m.length; i++) {
      const s = at(sample, i);
      const v = at(m, i);
      x0[i] = prediction === 'epsilon' ? (s - sigma * v) / alpha : prediction === 'v_prediction' ? alpha * s - sigma * v : v;
    }
  }

  private firstOrderUpdate(x0: Float32Array, sample: Float32Array, stepIndex: number, out: Float32Array): void {
    const t = alphaSigma(at(this.sigmas, stepIndex + 1));
    const s = alphaSigma(at(this.sigmas, stepIndex));
    const h = lambda(t) - lambda(s);
    const sampleCoeff = t.sigma / s.sigma;
    const x0Coeff = -(t.alpha * (Math.exp(-h) - 1));
    for (let i = 0; i < out.length; i++) out[i] = sampleCoeff * at(sample, i) + x0Coeff * at(x0, i);
  }

  private secondOrderUpdate(m0: Float32Array, m1: Float32Array, sample: Float32Array, stepIndex: number, out: Float32Array): void {
    const t = alphaSigma(at(this.sigmas, stepIndex + 1));
    const s0 = alphaSigma(at(this.sigmas, stepIndex));
    const s1 = alphaSigma(at(this.sigmas, stepIndex - 1));
    const h = lambda(t) - lambda(s0);
    const h0 = lambda(s0) - lambda(s1);
    const r0 = h0 / h;
    const sampleCoeff = t.sigma / s0.sigma;
    const d0Coeff = -(t.alpha * (Math.exp(-h) - 1));
    const d1Coeff = -0.5 * (t.alpha * (Math.exp(-h) - 1));
    for (let i = 0; i < out.length; i++) {
      const a = at(m0, i);
      const d1 = (1 / r0) * (a - at(m1, i));
      out[i] = sampleCoeff * at(sample, i) + d0Coeff * a + d1Coeff * d1;
    }
  }
}

function alphaSigma(sigma: number): { readonly alpha: number; readonly sigma: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha };
}

function lambda(p: { readonly alpha: number; readonly sigma: number }): number {
  return Math.log(p.alpha) - Math.log(p.sigma);
}

/**
 * DPM-Solver's own spacing (one more point than steps, the lowest dropped):
 *  - linspace: round(linspace(0, T - 1, n + 1)), reversed, without the last
 *  - leading:  arange(n + 1) * (T // (n + 1)), reversed, without the last, + steps_offset
 *  - trailing: as the other schedulers
 */
function dpmTimesteps(config: SchedulerConfig, steps: number): Float64Array {
  const T = config.numTrainTimesteps;
  switch (config.timestepSpacing) {
    case 'linspace':
      return reversed(linspace(0, T - 1, steps + 1).map(roundHalfEven)).slice(0, steps);
    case 'leading': {
      const ratio = Math.floor(T / (steps + 1));
      return Float64Array.from({ length: steps }, (_, i) => (steps - i) * ratio + config.stepsOffset);
    }
    case 'trailing': {
      const ratio = T / steps;
      return Float64Array.from({ length: steps }, (_, i) => roundHalfEven(T - i * ratio) - 1);
    }
  }
}
