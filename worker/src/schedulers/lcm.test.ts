import { describe, expect, it } from 'vitest';
import { resolveSchedulerConfig } from './config.js';
import { fullLoop, meanAbs, sumAbs } from './diffusers-fixtures.js';
import { LcmScheduler } from './lcm.js';
import { alphasCumprod } from './schedule.js';

// diffusers tests/schedulers/test_scheduler_lcm.py: scaled_linear 0.00085..0.012,
// epsilon (LCMScheduler's defaults, original_inference_steps 50).
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) => resolveSchedulerConfig('lcm', overrides);

describe('LcmScheduler against diffusers test_scheduler_lcm.py', () => {
  it('test_full_loop_onestep: sum 18.7097, mean 0.0244', () => {
    const result = fullLoop(new LcmScheduler(testConfig(), 1));
    expect(Math.abs(sumAbs(result) - 18.7097)).toBeLessThan(1e-4);
    expect(Math.abs(meanAbs(result) - 0.0244)).toBeLessThan(5e-5);
  });

  it('picks timesteps from the 50-step distillation schedule (test_inference_steps: last 99, 39, 19)', () => {
    const timesteps = (n: number): number[] => Array.from(new LcmScheduler(testConfig(), n).timesteps);
    expect(timesteps(1)).toEqual([999]);
    expect(timesteps(4)).toEqual([999, 759, 499, 259]);
    expect(timesteps(10)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    expect(timesteps(25).at(-1)).toBe(39);
    expect(timesteps(50).at(-1)).toBe(19);
    expect(() => new LcmScheduler(testConfig(), 51)).toThrow(/at most original_inference_steps/);
  });

  it('applies c_skip/c_out, then re-noises to the next timestep except at the last step', () => {
    const config = testConfig();
    const scheduler = new LcmScheduler(config, 4);
    const { cSkip, cOut } = scheduler.boundaryScalings(999);
    // sigma_data = 0.5, timestep_scaling = 10: c_skip = 0.25 / (9990² + 0.25)
    expect(cSkip).toBeCloseTo(0.25 / (9990 ** 2 + 0.25), 15);
    expect(cOut).toBeCloseTo(9990 / Math.sqrt(9990 ** 2 + 0.25), 12);

    const cumprod = alphasCumprod(config);
    const a999 = cumprod[999] ?? 0;
    const a759 = cumprod[759] ?? 0;
    const x = 0.8;
    const eps = 0.3;
    const noise = -0.6;
    const x0 = (x - Math.sqrt(1 - a999) * eps) / Math.sqrt(a999);
    const denoised = cOut * x0 + cSkip * x;
    const prev = scheduler.step(Float32Array.of(eps), 0, Float32Array.of(x), () => noise);
    expect(prev[0]).toBeCloseTo(Math.sqrt(a759) * denoised + Math.sqrt(1 - a759) * noise, 5);
    expect(() => new LcmScheduler(config, 4).step(Float32Array.of(eps), 0, Float32Array.of(x))).toThrow(/noise source/);
  });
});
