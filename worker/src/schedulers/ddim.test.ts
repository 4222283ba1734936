import { describe, expect, it } from 'vitest';
import { resolveSchedulerConfig } from './config.js';
import { DdimScheduler } from './ddim.js';
import { fullLoop, meanAbs, sumAbs } from './diffusers-fixtures.js';

// diffusers tests/schedulers/test_scheduler_ddim.py: get_scheduler_config()
// plus full_loop (10 steps, eta 0) on dummy_sample_deter with the dummy model.
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) =>
  resolveSchedulerConfig('ddim', { numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', clipSample: true, ...overrides });

describe('DdimScheduler against diffusers test_scheduler_ddim.py', () => {
  it.each([
    ['test_full_loop_no_noise', {}, 172.0067, 0.223967],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, 52.5302, 0.0684],
    ['test_full_loop_with_set_alpha_to_one', { setAlphaToOne: true, betaStart: 0.01 }, 149.8295, 0.1951],
    ['test_full_loop_with_no_set_alpha_to_one', { setAlphaToOne: false, betaStart: 0.01 }, 149.0784, 0.1941],
  ])('%s: sum %f, mean %f', (_name, overrides, expectedSum, expectedMean) => {
    const result = fullLoop(new DdimScheduler(testConfig(overrides), 10));
    // To the digits diffusers publishes (its own test allows 1e-2 / 1e-3).
    expect(Math.abs(sumAbs(result) - expectedSum)).toBeLessThan(1e-4);
    expect(Math.abs(meanAbs(result) - expectedMean)).toBeLessThan(6e-5);
  });

  it('test_steps_offset: timesteps [801, 601, 401, 201, 1]', () => {
    expect(Array.from(new DdimScheduler(testConfig({ stepsOffset: 1 }), 5).timesteps)).toEqual([801, 601, 401, 201, 1]);
  });

  it('adds eta-scaled noise only when eta > 0', () => {
    const config = testConfig();
    const sample = Float32Array.of(0.5, -0.25);
    const eps = Float32Array.of(0.1, 0.2);
    const deterministic = new DdimScheduler(config, 10).step(eps, 0, sample);
    const withZeroNoise = new DdimScheduler(config, 10, { eta: 1 }).step(eps, 0, sample, () => 0);
    const withNoise = new DdimScheduler(config, 10, { eta: 1 }).step(eps, 0, sample, () => 1);
    expect(withZeroNoise).not.toEqual(deterministic); // eta shrinks the direction term
    // The noise term is std_dev_t = eta * sqrt(variance(t=900, prev=800)) per unit of noise.
    const std = (withNoise[0] ?? 0) - (withZeroNoise[0] ?? 0);
    expect(std).toBeGreaterThan(0);
    expect((withNoise[1] ?? 0) - (withZeroNoise[1] ?? 0)).toBeCloseTo(std, 6);
    expect(() => new DdimScheduler(config, 10, { eta: 1 }).step(eps, 0, sample)).toThrow(/noise source/);
  });
});
