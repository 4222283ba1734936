// Parameter resolution, validation of what a request sets, and image seeds.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@latentfarm/common';
import { ImageFormat, MAX_SEED, Scheduler, schedulerNameList, type GenerationParams, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { estimateJob, imageCredits, type CostModel } from './cost.js';
import { resolveEntryParams, validateEntry, validateSpec, type Defaults, type Limits } from './params.js';
import { EntryTaskSource } from './task-source.js';

const limits: Limits = { maxPromptChars: 100, maxWidth: 1024, maxHeight: 1024, maxSteps: 150, maxCfgScale: 30, maxImagesPerEntry: 100,
  maxLabels: 64, maxLabelKeyChars: 128, maxLabelValueChars: 1024, maxLabelsChars: 16_384, maxIdChars: 256 };
const defaults: Defaults = { width: 512, height: 512, steps: 25, cfgScale: 7.5 };
const cost: CostModel = { basePixels: 512 * 512, baseSteps: 50, minCredits: 0 };
const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.UNSPECIFIED, ...p });
const spec = (p: Partial<GenerationParams> = {}): JobSpec => ({ model: 'sim', priority: 0, labels: {}, idempotencyKey: '', params: params(p) });
const entry = (e: Partial<PromptEntry> = {}): PromptEntry => ({ prompt: 'p', negativePrompt: '', images: 1, ...e });

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as Error).message;
  }
  throw new Error('expected InvalidArgumentError');
}

describe('validation', () => {
  it('refuses a seed in an entry\'s overrides instead of ignoring it, and points at the entry\'s own seed', () => {
    const msg = refusal(() => validateEntry(entry({ overrides: params({ seed: 5 }) }), 3, limits));
    expect(msg).toMatch(/entries\[3\]\.overrides\.seed: not allowed: set the entry's own seed \(entries\[3\]\.seed\)/);
    expect(() => validateEntry(entry({ seed: 5, overrides: params({ width: 64 }) }), 0, limits)).not.toThrow();
  });

  it('refuses seeds outside 0..2^32-1 from a caller in the same process', () => {
    expect(refusal(() => validateSpec(spec({ seed: 2 ** 32 }), limits))).toMatch(/spec\.params\.seed: 4294967296 is outside the seed range 0\.\.4294967295/);
    expect(refusal(() => validateEntry(entry({ seed: -1 }), 0, limits))).toMatch(/entries\[0\]\.seed: -1 is outside/);
    expect(() => validateSpec(spec({ seed: MAX_SEED }), limits)).not.toThrow();
  });

  it('takes the schedulers the table offers and names them when refusing one', () => {
    for (const s of [Scheduler.UNSPECIFIED, Scheduler.DDIM, Scheduler.LCM]) expect(() => validateSpec(spec({ scheduler: s }), limits)).not.toThrow();
    expect(refusal(() => validateSpec(spec({ scheduler: 42 as Scheduler }), limits))).toContain(`unknown scheduler 42: use ${schedulerNameList((n) => n.toUpperCase())}, or leave it unset`);
    expect(refusal(() => validateSpec(spec({ scheduler: Scheduler.UNRECOGNIZED }), limits))).toMatch(/unknown scheduler -1/);
  });
});

describe('resolveEntryParams', () => {
  it('takes the entry override, then the job default, then the coordinator default', () => {
    const p = resolveEntryParams(params({ width: 64, steps: 4, scheduler: Scheduler.EULER }), params({ width: 128, outputFormat: ImageFormat.WEBP }), defaults);
    expect(p).toEqual({ width: 128, height: 512, steps: 4, cfgScale: 7.5, scheduler: Scheduler.EULER, outputFormat: ImageFormat.WEBP });
    expect(resolveEntryParams(undefined, undefined, defaults)).toEqual({ width: 512, height: 512, steps: 25, cfgScale: 7.5, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG });
  });
});

describe('estimateJob', () => {
  it('prices each entry at its own size and steps', () => {
    const e = estimateJob(cost, params({ width: 512, height: 512, steps: 50 }), [entry({ images: 2 }), entry({ overrides: params({ width: 256, height: 256 }) })], defaults);
    expect(e).toEqual({ images: 3, credits: 2.25, units: 2_250_000, creditsPerImageMin: 0.25, creditsPerImageMax: 1 });
    expect(e.creditsPerImageMin).toBe(imageCredits(cost, 256, 256, 50));
  });

  it('multiplies by the model\'s price factor, and reserves each image rounded to the unit as it settles', () => {
    const e = estimateJob(cost, params({ width: 512, height: 512, steps: 50 }), [entry({ images: 3 })], defaults, 1 / 3);
    expect(e).toMatchObject({ images: 3, creditsPerImageMax: 1 / 3 });
    // 333,333 units an image, three times: the sum of what the three images settle, to the unit.
    expect(e.units).toBe(999_999);
  });
});

describe('EntryTaskSource.seedOf', () => {
  const source = (seed: number, entries: PromptEntry[]) => new EntryTaskSource('j', spec({ seed }), entries, seed, defaults);

  it('gives image i the job seed plus i, and an entry with a seed its seed plus the offset in the entry', () => {
    const s = source(100, [entry({ images: 2 }), entry({ images: 3, seed: 7 }), entry({ images: 1 })]);
    expect(Array.from({ length: s.total }, (_, i) => s.seedOf(i))).toEqual([100, 101, 7, 8, 9, 105]);
    expect(s.task(3).params.seed).toBe(8);
  });

  it('gives a job made of chunks (a streamed one) the same tasks as the same job made whole', () => {
    const entries = [entry({ images: 2 }), entry({ images: 3, seed: 7, prompt: 'q' }), entry({ images: 1 }), entry({ images: 2, prompt: 'r' })];
    const whole = new EntryTaskSource('j', spec({ seed: 100 }), entries, 100, defaults);
    const first = new EntryTaskSource('j', spec({ seed: 100 }), entries.slice(0, 2), 100, defaults);
    const second = new EntryTaskSource('j', spec({ seed: 100 }), entries.slice(2), 100, defaults, { firstEntry: 2, firstImage: first.to });
    expect([first.from, first.to, second.from, second.to]).toEqual([0, 5, 5, 8]);
    const chunked = [first, second].flatMap((c) => Array.from({ length: c.to - c.from }, (_, i) => c.task(c.from + i)));
    expect(chunked).toEqual(Array.from({ length: whole.total }, (_, i) => whole.task(i)));
    expect(chunked.map((t) => t.entryIndex)).toEqual([0, 0, 1, 1, 1, 2, 3, 3]);
  });

  it('wraps modulo 2^32 at the top of the range, for the job seed and for entry seeds', () => {
    const s = source(MAX_SEED - 1, [entry({ images: 3 }), entry({ images: 2, seed: MAX_SEED })]);
    expect(Array.from({ length: s.total }, (_, i) => s.task(i).params.seed)).toEqual([MAX_SEED - 1, MAX_SEED, 0, MAX_SEED, 0]);
  });
});
