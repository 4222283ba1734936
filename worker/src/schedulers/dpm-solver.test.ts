import { describe, expect, it } from 'vitest';
import { parseSchedulerConfig, resolveSchedulerConfig } from './config.js';
import { SD15_SCHEDULER_JSON, fullLoop, meanAbs } from './diffusers-fixtures.js';
import { DpmSolverMultistepScheduler } from './dpm-solver.js';

// diffusers tests/schedulers/test_scheduler_dpm_multi.py get_scheduler_config():
// linear 1e-4..0.02, solver_order 2, dpmsolver++ midpoint, lower_order_final
// False, euler_at_final False, final_sigmas_type "sigma_min"; full_loop of 10 steps.
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) =>
  resolveSchedulerConfig('dpmpp_2m', {
    numTrainTimesteps: 1000,
    betaStart: 0.0001,
    betaEnd: 0.02,
    betaSchedule: 'linear',
    solverOrder: 2,
    lowerOrderFinal: false,
    eulerAtFinal: false,
    finalSigmasType: 'sigma_min',
    ...overrides,
  });

describe('DpmSolverMultistepScheduler against diffusers test_scheduler_dpm_multi.py', () => {
  it('test_full_loop_no_noise: mean 0.3301', () => {
    expect(Math.abs(meanAbs(fullLoop(new DpmSolverMultistepScheduler(testConfig(), 10))) - 0.3301)).toBeLessThan(6e-5);
  });

  it('test_full_loop_with_v_prediction: mean 0.2251', () => {
    const result = fullLoop(new DpmSolverMultistepScheduler(testConfig({ predictionType: 'v_prediction' }), 10));
    expect(Math.abs(meanAbs(result) - 0.2251)).toBeLessThan(6e-5);
  });

  it('test_full_loop_with_karras_and_v_prediction: mean 0.2096 within diffusers\' own 1e-3', () => {
    // diffusers recorded 0.2096 when its solver used the alphas of the rounded
    // Karras timesteps; since it moved to the Karras sigmas themselves (what we
    // do) the loop gives 0.20919, which its test still accepts at 1e-3.
    const result = fullLoop(new DpmSolverMultistepScheduler(testConfig({ predictionType: 'v_prediction', useKarrasSigmas: true }), 10));
    expect(Math.abs(meanAbs(result) - 0.2096)).toBeLessThan(1e-3);
    expect(meanAbs(result)).toBeCloseTo(0.209198, 5);
  });

  it('uses its own linspace spacing (n + 1 points, last dropped) and Karras timesteps', () => {
    expect(Array.from(new DpmSolverMultistepScheduler(testConfig(), 10).timesteps)).toEqual([
      999, 899, 799, 699, 599, 500, 400, 300, 200, 100,
    ]);
    const karras = new DpmSolverMultistepScheduler(testConfig({ useKarrasSigmas: true }), 10);
    expect(Array.from(karras.timesteps)).toEqual([999, 937, 864, 775, 663, 511, 301, 102, 18, 0]);
    // leading: arange(n + 1) * (T // (n + 1)), reversed, last dropped, + offset
    const sd15 = resolveSchedulerConfig('dpmpp_2m', parseSchedulerConfig(SD15_SCHEDULER_JSON), { timestepSpacing: 'leading' });
    expect(Array.from(new DpmSolverMultistepScheduler(sd15, 4).timesteps)).toEqual([801, 601, 401, 201]);
  });

  it('with the default final sigma 0, the last step returns the x0 prediction', () => {
    const config = resolveSchedulerConfig('dpmpp_2m', parseSchedulerConfig(SD15_SCHEDULER_JSON));
    expect(config.finalSigmasType).toBe('zero');
    const scheduler = new DpmSolverMultistepScheduler(config, 2);
    expect(scheduler.sigmas[2]).toBe(0);
    const x = Float32Array.of(5);
    const afterFirst = scheduler.step(Float32Array.of(0.2), 0, x);
    const sigma = scheduler.sigmas[1] ?? 0;
    const eps = 0.4;
    const last = scheduler.step(Float32Array.of(eps), 1, afterFirst);
    // x0 = (x - sigma_t·eps) / alpha_t with alpha_t = 1/sqrt(sigma²+1), sigma_t = sigma·alpha_t
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    expect(last[0]).toBeCloseTo(((afterFirst[0] ?? 0) - sigma * alpha * eps) / alpha, 4);
  });

  it('keeps its multistep history per instance', () => {
    const config = testConfig();
    const a = new DpmSolverMultistepScheduler(config, 10);
    const b = new DpmSolverMultistepScheduler(config, 10);
    const x = Float32Array.of(0.3, -0.7);
    // Interleaving a second image's steps must not change the first's result.
    let xa: Float32Array = x;
    let xb: Float32Array = x;
    for (let i = 0; i < 10; i++) {
      xa = a.step(Float32Array.of(0.1 * i, 0.2), i, xa);
      xb = b.step(Float32Array.of(-0.3, 0.05 * i), i, xb);
    }
    const c = new DpmSolverMultistepScheduler(config, 10);
    let xc: Float32Array = x;
    for (let i = 0; i < 10; i++) xc = c.step(Float32Array.of(0.1 * i, 0.2), i, xc);
    expect(xa).toEqual(xc);
    expect(xb).not.toEqual(xa);
  });
});
