import { describe, expect, it } from 'vitest';
import { parseSchedulerConfig, resolveSchedulerConfig } from './config.js';
import { SD15_SCHEDULER_JSON, eulerTestLoop, meanAbs, sumAbs } from './diffusers-fixtures.js';
import { EulerScheduler } from './euler.js';

// diffusers tests/schedulers/test_scheduler_euler.py: 1100 training steps, linear betas, 10 steps.
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) =>
  resolveSchedulerConfig('euler', { numTrainTimesteps: 1100, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', ...overrides });

describe('EulerScheduler against diffusers test_scheduler_euler.py', () => {
  it('test_full_loop_no_noise: sum 10.0807, mean 0.0131', () => {
    const result = eulerTestLoop(new EulerScheduler(testConfig(), 10));
    expect(Math.abs(sumAbs(result) - 10.0807)).toBeLessThan(1e-4);
    expect(Math.abs(meanAbs(result) - 0.0131)).toBeLessThan(5e-5);
  });

  it('test_full_loop_device_karras_sigmas: sum 124.52299, mean 0.162139', () => {
    const result = eulerTestLoop(new EulerScheduler(testConfig({ useKarrasSigmas: true }), 10));
    // 124.52259 here: 3.2e-6 relative (float32 log-sigma interpolation in torch).
    expect(Math.abs(sumAbs(result) - 124.52299499511719) / 124.52299499511719).toBeLessThan(1e-5);
    expect(Math.abs(meanAbs(result) - 0.16213932633399963)).toBeLessThan(1e-6);
  });

  it('test_full_loop_with_v_prediction: sum 0.0002 (diffusers\' float32 residue of an exact 0)', () => {
    const result = eulerTestLoop(new EulerScheduler(testConfig({ predictionType: 'v_prediction' }), 10));
    expect(sumAbs(result)).toBeLessThan(2e-4);
  });

  it('uses float linspace timesteps, interpolated sigmas and init sigma = max sigma', () => {
    const scheduler = new EulerScheduler(testConfig(), 10);
    // np.linspace(0, 1099, 10, dtype=float32)[::-1]
    expect(Array.from(scheduler.timesteps)).toEqual(
      [1099, 976.888916015625, 854.7777709960938, 732.6666870117188, 610.5555419921875, 488.4444580078125, 366.3333435058594, 244.22222900390625, 122.11111450195312, 0],
    );
    expect(scheduler.sigmas).toHaveLength(11);
    expect(scheduler.sigmas[10]).toBe(0);
    expect(scheduler.initNoiseSigma).toBe(scheduler.sigmas[0]);
  });

  it('on SD 1.5\'s config: linspace from 999, sigma_max 14.6146, model input divided by sqrt(sigma² + 1)', () => {
    const scheduler = new EulerScheduler(resolveSchedulerConfig('euler', parseSchedulerConfig(SD15_SCHEDULER_JSON)), 25);
    expect(Array.from(scheduler.timesteps.subarray(0, 3))).toEqual([999, 957.375, 915.75]);
    expect(scheduler.initNoiseSigma).toBeCloseTo(14.6146, 4);
    const scaled = scheduler.scaleModelInput(Float32Array.of(2), 0);
    expect(scaled[0]).toBeCloseTo(2 / Math.sqrt(14.6146 ** 2 + 1), 5);
    // leading spacing: init sigma is sqrt(max² + 1) (diffusers' init_noise_sigma)
    const leading = new EulerScheduler(resolveSchedulerConfig('euler', parseSchedulerConfig(SD15_SCHEDULER_JSON), { timestepSpacing: 'leading' }), 50);
    expect(leading.timesteps[0]).toBe(981);
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt((leading.sigmas[0] ?? 0) ** 2 + 1), 10);
  });

  it('steps x + (x - x0)/sigma · (sigma_next - sigma) into `out`, which may alias the sample', () => {
    const scheduler = new EulerScheduler(testConfig(), 10);
    const sigma = scheduler.sigmas[0] ?? 0;
    const next = scheduler.sigmas[1] ?? 0;
    const sample = Float32Array.of(3, -1);
    const eps = Float32Array.of(0.5, 0.25);
    const expected = [3 + 0.5 * (next - sigma), -1 + 0.25 * (next - sigma)];
    const out = scheduler.step(eps, 0, sample, undefined, sample);
    expect(out).toBe(sample);
    expect(out[0]).toBeCloseTo(expected[0] ?? 0, 4);
    expect(out[1]).toBeCloseTo(expected[1] ?? 0, 4);
  });
});
