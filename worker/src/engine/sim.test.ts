// The sim engine's images: one per seed across the whole seed range, the same
// for the same seed, and a seed outside the range refused rather than folded.
import { describe, expect, it } from 'vitest';
import { ImageFormat, MAX_SEED, Scheduler, type ResolvedParams } from '@latentfarm/proto';
import { decodePng } from '../image/png.js';
import { TaskError } from './engine.js';
import { SimEngine, simPixels } from './sim.js';

const SEEDS = [0, 1, 2, 3, 255, 256, 65_535, 2 ** 31 - 1, 2 ** 31, MAX_SEED - 1, MAX_SEED];

function render(engine: SimEngine, seed: number, size = 16): Promise<Uint8Array> {
  const params: ResolvedParams = { width: size, height: size, steps: 1, cfgScale: 1, scheduler: Scheduler.UNSPECIFIED, seed, outputFormat: ImageFormat.PNG };
  return engine.render({ taskId: `t/${seed}`, model: 'sim', prompt: 'p', negativePrompt: '', params, signal: new AbortController().signal, onStep: () => undefined })
    .then((o) => decodePng(o.image).rgb);
}

describe('sim images', () => {
  it('differ for every pair of a spread of seeds, 0 and 1 and the top of the range included', () => {
    for (const size of [8, 64]) {
      const images = SEEDS.map((s) => Buffer.from(simPixels(size, size, s)).toString('base64'));
      expect(new Set(images).size, `${size}×${size}`).toBe(SEEDS.length);
    }
  });

  it('differ for every seed of the range\'s bottom and top 65,536, even at 2×1 pixels', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 65_536; i++) {
      for (const seed of [i, MAX_SEED - i]) seen.add(Buffer.from(simPixels(2, 1, seed)).toString('hex'));
    }
    expect(seen.size).toBe(2 * 65_536);
  });

  it('are the same for the same seed', () => {
    expect(simPixels(24, 40, 79)).toEqual(simPixels(24, 40, 79));
  });

  it('come out of the engine one per seed', async () => {
    const engine = new SimEngine({ models: ['sim'], maxBatch: 4, stepBaseMs: 0, stepPerImageMs: 0, failMarker: '', native: undefined });
    const images = await Promise.all([0, 1, MAX_SEED].map((s) => render(engine, s)));
    expect(new Set(images.map((i) => Buffer.from(i).toString('base64'))).size).toBe(3);
    expect(images[0]).toEqual(simPixels(16, 16, 0));
  });

  it('refuse a seed outside 0..2^32-1 instead of folding it onto another', async () => {
    expect(() => simPixels(8, 8, 2 ** 32)).toThrow(RangeError);
    const engine = new SimEngine({ models: ['sim'], maxBatch: 4, stepBaseMs: 0, stepPerImageMs: 0, failMarker: '', native: undefined });
    const failed = render(engine, 2 ** 32 + 1);
    await expect(failed).rejects.toBeInstanceOf(TaskError);
    await expect(failed).rejects.toMatchObject({ retryable: false, message: 'seed 4294967297 is outside the seed range 0..4294967295' });
  });
});
