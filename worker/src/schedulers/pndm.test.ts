import { describe, expect, it } from 'vitest';
import { parseSchedulerConfig, resolveSchedulerConfig } from './config.js';
import { SD15_SCHEDULER_JSON, fullLoop, meanAbs, sumAbs } from './diffusers-fixtures.js';
import { PndmScheduler } from './pndm.js';

// diffusers tests/schedulers/test_scheduler_pndm.py: default PNDM config
// (skip_prk_steps=false: PRK warm-up, then PLMS), 10 steps.
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) =>
  resolveSchedulerConfig('pndm', { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', ...overrides });

describe('PndmScheduler against diffusers test_scheduler_pndm.py', () => {
  it.each([
    ['test_full_loop_no_noise', {}, 198.1318, 0.258, 1e-4],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, 67.3986, 0.0878, 1e-4],
    // With beta_start=0.01 the final alpha products are ~1e-6 and the loop is
    // ill-conditioned: we get 230.0370 / 186.9449, 1.3e-5 and 1.8e-5 relative
    // from diffusers' published numbers (its own test allows 1e-2 absolute).
    // DDIM on the same betas matches to all digits, so the betas are right.
    ['test_full_loop_with_set_alpha_to_one', { setAlphaToOne: true, betaStart: 0.01 }, 230.0399, 0.2995, 5e-3],
    ['test_full_loop_with_no_set_alpha_to_one', { setAlphaToOne: false, betaStart: 0.01 }, 186.9482, 0.2434, 5e-3],
  ])('%s: sum %f, mean %f', (_name, overrides, expectedSum, expectedMean, sumTolerance) => {
    const result = fullLoop(new PndmScheduler(testConfig(overrides), 10));
    expect(Math.abs(sumAbs(result) - expectedSum)).toBeLessThan(sumTolerance);
    expect(Math.abs(meanAbs(result) - expectedMean)).toBeLessThan(6e-5);
  });

  it('test_steps_offset: PRK then PLMS timesteps', () => {
    const scheduler = new PndmScheduler(testConfig({ stepsOffset: 1 }), 10);
    expect(Array.from(scheduler.timesteps)).toEqual([
      901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601, 601, 501, 401, 301, 201, 101, 1,
    ]);
    expect(scheduler.stepCount).toBe(19);
  });

  it('runs PLMS only as SD 1.5 ships it: n + 1 UNet calls, the second timestep repeated', () => {
    const config = resolveSchedulerConfig('pndm', parseSchedulerConfig(SD15_SCHEDULER_JSON));
    const scheduler = new PndmScheduler(config, 50);
    expect(scheduler.stepCount).toBe(51);
    expect(Array.from(scheduler.timesteps.subarray(0, 4))).toEqual([981, 961, 961, 941]);
    expect(scheduler.timesteps.at(-1)).toBe(1);
  });

  it('PLMS warm-up: the second call redoes step 981 → 961 from the first sample with the averaged epsilon', () => {
    // diffusers' step_plms at counter 1 on a one-element latent, checked
    // against _get_prev_sample (formula (9) of the PNDM paper) in float64.
    const config = resolveSchedulerConfig('pndm', parseSchedulerConfig(SD15_SCHEDULER_JSON));
    const scheduler = new PndmScheduler(config, 50);
    const x = Float32Array.of(1);
    const first = scheduler.step(Float32Array.of(0.3), 0, x);
    expect(first[0]).toBeCloseTo(prevSample(1, 981, 961, 0.3), 6);
    const second = scheduler.step(Float32Array.of(0.1), 1, first);
    expect(second[0]).toBeCloseTo(prevSample(1, 981, 961, (0.3 + 0.1) / 2), 6);
    // Third call (t = 961 again): second-order Adams–Bashforth on the stored
    // outputs [0.3, e2]; the warm-up's 0.1 is not kept (as in diffusers).
    const third = scheduler.step(Float32Array.of(0.05), 2, second);
    expect(third[0]).toBeCloseTo(prevSample(second[0] ?? 0, 961, 941, (3 * 0.05 - 0.3) / 2), 6);
  });

  it('rejects PRK with fewer than 4 steps and steps out of order', () => {
    expect(() => new PndmScheduler(testConfig(), 3)).toThrow(RangeError);
    const scheduler = new PndmScheduler(testConfig({ skipPrkSteps: true }), 3);
    const x = new Float32Array(4);
    expect(() => scheduler.step(x, 1, x)).toThrow(/expected step 0/);
  });
});

/** diffusers' PNDM _get_prev_sample for SD 1.5's betas, all in float64. */
function prevSample(sample: number, t: number, prevT: number, eps: number): number {
  const cumprod = (step: number): number => {
    const a = Math.sqrt(0.00085);
    const b = Math.sqrt(0.012);
    let acc = 1;
    for (let i = 0; i <= step; i++) acc *= 1 - (a + ((b - a) * i) / 999) ** 2;
    return acc;
  };
  const alphaT = cumprod(t);
  const alphaPrev = cumprod(prevT);
  const denom = alphaT * Math.sqrt(1 - alphaPrev) + Math.sqrt(alphaT * (1 - alphaT) * alphaPrev);
  return Math.sqrt(alphaPrev / alphaT) * sample - ((alphaPrev - alphaT) * eps) / denom;
}
