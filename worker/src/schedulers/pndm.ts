// PNDM (Liu et al. 2022), as diffusers' PNDMScheduler. Stable Diffusion ships
// skip_prk_steps=true: pseudo linear multistep (PLMS) only, with diffusers'
// warm-up that evaluates the first timestep's neighbour twice (so a run of n
// steps makes n + 1 UNet calls). skip_prk_steps=false runs diffusers'
// Runge–Kutta (PRK) warm-up instead: 12 calls over the 4 highest timesteps,
// then PLMS on the rest.

import { type SchedulerConfig, SchedulerConfigError } from './config.js';
import { alphasCumprod, spacedTimesteps } from './schedule.js';
import { at, reversed } from './numeric.js';
import { type ImageScheduler, StepCursor } from './types.js';

const PNDM_ORDER = 4;

export class PndmScheduler implements ImageScheduler {
  readonly kind = 'pndm';
  readonly timesteps: Float64Array;
  readonly stepCount: number;
  readonly initNoiseSigma = 1;
  private readonly cumprod: Float64Array;
  private readonly finalAlphaCumprod: number;
  private readonly stride: number;
  private readonly prkCount: number;
  private readonly cursor: StepCursor;

  // Solver state, as diffusers names it: past model outputs (ets, newest
  // last), the call counter, the Runge–Kutta accumulator and the sample the
  // current warm-up/RK step started from.
  private readonly ets: Float32Array[] = [];
  private readonly spare: Float32Array[] = [];
  private counter = 0;
  private rkSum: Float64Array | undefined;
  private combinedBuffer: Float64Array | undefined;
  private curSample: Float32Array | undefined;

  constructor(
    private readonly config: SchedulerConfig,
    steps: number,
  ) {
    if (config.predictionType === 'sample') {
      throw new SchedulerConfigError('pndm', 'prediction_type', '"sample" is not supported by PNDM (as in diffusers)');
    }
    this.cumprod = alphasCumprod(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : at(this.cumprod, 0);
    this.stride = Math.floor(config.numTrainTimesteps / steps);
    // Ascending, as diffusers' `_timesteps`.
    const base = Array.from(
      reversed(spacedTimesteps(config.timestepSpacing, config.numTrainTimesteps, steps, config.stepsOffset)),
    );
    let prk: number[] = [];
    let plms: number[];
    if (config.skipPrkSteps) {
      plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
    } else {
      if (steps < PNDM_ORDER) throw new RangeError(`pndm: with skip_prk_steps=false, steps must be >= ${PNDM_ORDER}`);
      const half = Math.floor(this.stride / 2);
      // Each of the 4 highest timesteps t and its midpoint t + half, in RK4's evaluation pattern.
      const points = base.slice(-PNDM_ORDER).flatMap((t) => [t, t + half]).slice(0, -1);
      prk = points.flatMap((t) => [t, t]).slice(1, -1).reverse();
      plms = base.slice(0, -3).reverse();
    }
    this.prkCount = prk.length;
    this.timesteps = Float64Array.from([...prk, ...plms]);
    this.stepCount = this.timesteps.length;
    this.cursor = new StepCursor(this.kind, this.stepCount);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _noise?: unknown, out?: Float32Array): Float32Array {
    this.cursor.advance(stepIndex, modelOutput, sample, out);
    const result = out ?? new Float32Array(sample.length);
    const t = at(this.timesteps, stepIndex);
    if (stepIndex < this.prkCount) this.stepPrk(modelOutput, t, sample, result);
    else this.stepPlms(modelOutput, t, sample, result);
    this.counter++;
    return result;
  }

  private stepPrk(m: Float32Array, timestep: number, sample: Float32Array, out: Float32Array): void {
    const phase = this.counter % 4;
    const prevT = timestep - (this.counter % 2 === 1 ? 0 : Math.floor(this.stride / 2));
    // All four RK evaluations step from the first one's sample and timestep.
    const t = at(this.timesteps, this.counter - phase);
    const rk = (this.rkSum ??= new Float64Array(m.length));
    let combined: ArrayLike<number> = m;
    if (phase === 0) {
      for (let i = 0; i < m.length; i++) rk[i] = at(m, i) / 6;
      this.pushEt(m);
      this.curSample = copyInto(this.curSample, sample);
    } else if (phase === 1 || phase === 2) {
      for (let i = 0; i < m.length; i++) rk[i] = at(rk, i) + at(m, i) / 3;
    } else {
      for (let i = 0; i < m.length; i++) rk[i] = at(rk, i) + at(m, i) / 6;
      combined = rk;
    }
    this.prevSample(this.curSample ?? sample, t, prevT, combined, out);
  }

  private stepPlms(m: Float32Array, timestep: number, sample: Float32Array, out: Float32Array): void {
    let t = timestep;
    let prevT = timestep - this.stride;
    if (this.counter !== 1) {
      this.pushEt(m);
    } else {
      // Second warm-up call: redo the first step from its start with the averaged slope.
      prevT = timestep;
      t = timestep + this.stride;
    }
    const n = this.ets.length;
    const e1 = this.ets[n - 1];
    const e2 = this.ets[n - 2];
    const e3 = this.ets[n - 3];
    const e4 = this.ets[n - 4];
    const combined = (this.combinedBuffer ??= new Float64Array(m.length));
    let from = sample;
    if (n === 1 && this.counter === 0) {
      combined.set(m);
      this.curSample = copyInto(this.curSample, sample);
    } else if (n === 1 && this.counter === 1 && e1 !== undefined) {
      for (let i = 0; i < m.length; i++) combined[i] = (at(m, i) + at(e1, i)) / 2;
      from = this.curSample ?? sample;
    } else if (n === 2 && e1 !== undefined && e2 !== undefined) {
      for (let i = 0; i < m.length; i++) combined[i] = (3 * at(e1, i) - at(e2, i)) / 2;
    } else if (n === 3 && e1 !== undefined && e2 !== undefined && e3 !== undefined) {
      for (let i = 0; i < m.length; i++) combined[i] = (23 * at(e1, i) - 16 * at(e2, i) + 5 * at(e3, i)) / 12;
    } else if (e1 !== undefined && e2 !== undefined && e3 !== undefined && e4 !== undefined) {
      for (let i = 0; i < m.length; i++) {
        combined[i] = (55 * at(e1, i) - 59 * at(e2, i) + 37 * at(e3, i) - 9 * at(e4, i)) / 24;
      }
    } else {
      throw new Error('pndm: inconsistent multistep state');
    }
    this.prevSample(from, t, prevT, combined, out);
  }

  /** Keeps the last 4 model outputs, reusing the evicted buffer. */
  private pushEt(m: Float32Array): void {
    if (this.ets.length >= PNDM_ORDER) {
      const evicted = this.ets.shift();
      if (evicted !== undefined) this.spare.push(evicted);
    }
    this.ets.push(copyInto(this.spare.pop(), m));
  }

  /** diffusers' _get_prev_sample: formula (9) of the PNDM paper. */
  private prevSample(sample: Float32Array, t: number, prevT: number, m: ArrayLike<number>, out: Float32Array): void {
    const alphaT = at(this.cumprod, t);
    const alphaPrev = prevT >= 0 ? at(this.cumprod, prevT) : this.finalAlphaCumprod;
    const betaT = 1 - alphaT;
    const betaPrev = 1 - alphaPrev;
    const sampleCoeff = Math.sqrt(alphaPrev / alphaT);
    const denom = alphaT * Math.sqrt(betaPrev) + Math.sqrt(alphaT * betaT * alphaPrev);
    const v = this.config.predictionType === 'v_prediction';
    const sqrtAlphaT = Math.sqrt(alphaT);
    const sqrtBetaT = Math.sqrt(betaT);
    for (let i = 0; i < out.length; i++) {
      const s = at(sample, i);
      // v-prediction → epsilon, after the multistep combination (as diffusers does).
      const eps = v ? sqrtAlphaT * at(m, i) + sqrtBetaT * s : at(m, i);
      out[i] = sampleCoeff * s - ((alphaPrev - alphaT) * eps) / denom;
    }
  }
}

function copyInto(target: Float32Array | undefined, source: Float32Array): Float32Array {
  const buffer = target !== undefined && target.length === source.length ? target : new Float32Array(source.length);
  buffer.set(source);
  return buffer;
}
