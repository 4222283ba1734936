import { describe, expect, it } from 'vitest';
import { resolveSchedulerConfig } from './config.js';
import { eulerTestLoop, sumAbs } from './diffusers-fixtures.js';
import { EulerAncestralScheduler } from './euler-ancestral.js';
import { EulerScheduler } from './euler.js';

// diffusers' ancestral tests draw noise from torch.manual_seed(0), which we do
// not reproduce (our noise comes from each image's own SeededRandom). We pin
// the deterministic parts: schedule, sigma_up/sigma_down, and steps with given noise.
const testConfig = (overrides: Parameters<typeof resolveSchedulerConfig>[1] = {}) =>
  resolveSchedulerConfig('euler_ancestral', { numTrainTimesteps: 1100, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear', ...overrides });

describe('EulerAncestralScheduler', () => {
  it('shares Euler\'s timesteps and sigmas (diffusers builds them the same way)', () => {
    const ancestral = new EulerAncestralScheduler(testConfig(), 10);
    const euler = new EulerScheduler(resolveSchedulerConfig('euler', { numTrainTimesteps: 1100 }), 10);
    expect(ancestral.timesteps).toEqual(euler.timesteps);
    expect(ancestral.sigmas).toEqual(euler.sigmas);
    expect(ancestral.initNoiseSigma).toBe(euler.initNoiseSigma);
  });

  it('splits each step into sigma_down and sigma_up with sigma_down² + sigma_up² = sigma_next²', () => {
    const scheduler = new EulerAncestralScheduler(testConfig(), 10);
    for (let i = 0; i < 10; i++) {
      const from = scheduler.sigmas[i] ?? 0;
      const to = scheduler.sigmas[i + 1] ?? 0;
      const { sigmaDown, sigmaUp } = scheduler.ancestralSigmas(i);
      expect(sigmaUp).toBeCloseTo(Math.sqrt((to ** 2 * (from ** 2 - to ** 2)) / from ** 2), 10);
      expect(sigmaDown ** 2 + sigmaUp ** 2).toBeCloseTo(to ** 2, 8);
    }
    expect(scheduler.ancestralSigmas(9)).toEqual({ sigmaDown: 0, sigmaUp: 0 });
  });

  it('steps to sigma_down deterministically, then adds noise · sigma_up', () => {
    const make = (): EulerAncestralScheduler => new EulerAncestralScheduler(testConfig(), 10);
    const sample = Float32Array.of(10, -20);
    const eps = Float32Array.of(1, 0.5);
    const sigma = make().sigmas[0] ?? 0;
    const { sigmaDown, sigmaUp } = make().ancestralSigmas(0);
    const quiet = make().step(eps, 0, sample, () => 0);
    expect(quiet[0]).toBeCloseTo(10 + 1 * (sigmaDown - sigma), 3);
    expect(quiet[1]).toBeCloseTo(-20 + 0.5 * (sigmaDown - sigma), 3);
    const noise = [0.7, -1.2];
    let k = 0;
    const noisy = make().step(eps, 0, sample, () => noise[k++] ?? 0);
    expect((noisy[0] ?? 0) - (quiet[0] ?? 0)).toBeCloseTo(0.7 * sigmaUp, 3);
    expect((noisy[1] ?? 0) - (quiet[1] ?? 0)).toBeCloseTo(-1.2 * sigmaUp, 3);
    expect(() => make().step(eps, 0, sample)).toThrow(/noise source/);
  });

  it('with zero noise runs diffusers\' test loop to a finite, fixed result', () => {
    // Regression value of our own (diffusers publishes only seeded-noise sums).
    expect(sumAbs(eulerTestLoop(new EulerAncestralScheduler(testConfig(), 10), () => 0))).toBeCloseTo(53.90824, 4);
  });
});
