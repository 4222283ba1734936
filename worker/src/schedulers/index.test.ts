import { InvalidArgumentError } from '@latentfarm/common';
import { describe, expect, it } from 'vitest';
import { SeededRandom } from '../pipeline/random.js';
import { SD15_SCHEDULER_JSON, dummyModel } from './diffusers-fixtures.js';
import { SCHEDULER_KINDS, type SchedulerKind, createScheduler, isSchedulerKind, parseSchedulerConfig, resolveSchedulerConfig } from './index.js';
import type { ImageScheduler } from './types.js';

const sd15 = parseSchedulerConfig(SD15_SCHEDULER_JSON);
const make = (kind: SchedulerKind, steps: number): ImageScheduler => createScheduler(kind, resolveSchedulerConfig(kind, sd15), steps);

/** Denoises one image from its seed with the dummy model standing in for the UNet. */
function render(kind: SchedulerKind, seed: number, steps: number): Float32Array {
  const scheduler = make(kind, steps);
  const rng = new SeededRandom(seed);
  let latent: Float32Array = rng.fillNormal(new Float32Array(16)).map((v) => v * scheduler.initNoiseSigma);
  const noise = rng.normalSource();
  for (let i = 0; i < scheduler.stepCount; i++) {
    const input = scheduler.scaleModelInput(latent, i);
    latent = scheduler.step(dummyModel(input, scheduler.timesteps[i] ?? 0), i, latent, noise);
  }
  return latent;
}

describe('createScheduler', () => {
  it('lists the supported kinds', () => {
    expect(SCHEDULER_KINDS).toEqual(['ddim', 'pndm', 'euler', 'euler_ancestral', 'dpmpp_2m', 'lcm']);
    expect(isSchedulerKind('euler')).toBe(true);
    expect(isSchedulerKind('heun')).toBe(false);
  });

  it.each(SCHEDULER_KINDS.map((kind) => [kind]))('%s renders a finite image in stepCount calls on SD 1.5\'s config', (kind) => {
    const scheduler = make(kind, 8);
    expect(scheduler.kind).toBe(kind);
    expect(scheduler.timesteps).toHaveLength(scheduler.stepCount);
    expect(scheduler.stepCount).toBe(kind === 'pndm' ? 9 : 8);
    const image = render(kind, 1, 8);
    expect(image.every(Number.isFinite)).toBe(true);
  });

  it('gives an image the same result alone or interleaved with other images (continuous batching)', () => {
    for (const kind of ['euler_ancestral', 'lcm', 'pndm', 'dpmpp_2m'] as const) {
      const alone = render(kind, 42, 6);
      // Interleave: image A (seed 42) joins at step 0, B (seed 7) is already 2 steps in.
      const a = make(kind, 6);
      const b = make(kind, 6);
      const rngA = new SeededRandom(42);
      const rngB = new SeededRandom(7);
      let xa: Float32Array = rngA.fillNormal(new Float32Array(16)).map((v) => v * a.initNoiseSigma);
      let xb: Float32Array = rngB.fillNormal(new Float32Array(16)).map((v) => v * b.initNoiseSigma);
      const noiseA = rngA.normalSource();
      const noiseB = rngB.normalSource();
      const stepB = (i: number): void => {
        xb = b.step(dummyModel(b.scaleModelInput(xb, i), b.timesteps[i] ?? 0), i, xb, noiseB);
      };
      stepB(0);
      stepB(1);
      for (let i = 0; i < a.stepCount; i++) {
        xa = a.step(dummyModel(a.scaleModelInput(xa, i), a.timesteps[i] ?? 0), i, xa, noiseA);
        if (i + 2 < b.stepCount) stepB(i + 2);
      }
      expect(xa, kind).toEqual(alone);
      expect(render(kind, 43, 6), kind).not.toEqual(alone);
    }
  });

  it('rejects bad steps and options with InvalidArgumentError naming the field', () => {
    const config = resolveSchedulerConfig('ddim', sd15);
    expect(() => createScheduler('ddim', config, 0)).toThrow(InvalidArgumentError);
    expect(() => createScheduler('ddim', config, 2.5)).toThrow(/steps: must be an integer from 1 to 1000/);
    expect(() => createScheduler('lcm', resolveSchedulerConfig('lcm', sd15), 60)).toThrow(/steps: lcm: steps \(60\)/);
    expect(() => createScheduler('ddim', config, 10, { eta: -1 })).toThrow(/eta: must be between 0 and 1/);
    expect(() => createScheduler('heun' as SchedulerKind, config, 10)).toThrow(/scheduler: unknown scheduler "heun"/);
  });

  it('enforces step order and matching lengths', () => {
    const scheduler = make('euler', 4);
    const x = new Float32Array(4);
    expect(() => scheduler.step(x, 1, x)).toThrow(/expected step 0 of 4, got 1/);
    expect(() => scheduler.step(new Float32Array(3), 0, x)).toThrow(/same length/);
    scheduler.step(x, 0, x);
    expect(() => scheduler.step(x, 0, x)).toThrow(/expected step 1/);
  });
});
