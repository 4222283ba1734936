// The model registry: what workers announce, the default-model rule, and the
// messages a user sees for a model nobody serves.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, NotFoundError } from '@latentfarm/common';
import { Scheduler, type Hello, type ModelDefaults } from '@latentfarm/proto';
import { ModelRegistry, type ModelRegistryOptions } from './model-registry.js';

const hello = (id: string, models: string[], modelDefaults: ModelDefaults[] = []): Hello => ({
  workerId: id, models, maxBatch: 4, provider: 'cpu', device: 'cpu', engine: 'onnx', version: '', modelDefaults,
});
const registry = (o: Partial<ModelRegistryOptions> = {}) => new ModelRegistry({
  accepted: ['sim'], defaultModel: '', fallbackWidth: 512, fallbackHeight: 512, maxWidth: 2048, maxHeight: 2048, ...o,
});
const shapes: ModelDefaults = { name: 'shapes-ldm', width: 64, height: 64, scheduler: Scheduler.DDIM };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('ModelRegistry', () => {
  it('gives a model the native size and scheduler its worker announces, and the coordinator defaults without one', () => {
    const r = registry({ accepted: ['sim', 'queued-only'] });
    r.attach('w1', hello('w1', ['shapes-ldm'], [shapes]));
    expect(r.defaultsFor('shapes-ldm')).toEqual({ width: 64, height: 64, scheduler: Scheduler.DDIM, native: true });
    expect(r.defaultsFor('queued-only')).toEqual({ width: 512, height: 512, scheduler: Scheduler.UNSPECIFIED, native: false });
    expect(r.status()).toEqual([
      { name: 'sim', workers: 0, defaultWidth: 512, defaultHeight: 512, defaultScheduler: Scheduler.UNSPECIFIED, native: false },
      { name: 'queued-only', workers: 0, defaultWidth: 512, defaultHeight: 512, defaultScheduler: Scheduler.UNSPECIFIED, native: false },
      { name: 'shapes-ldm', workers: 1, defaultWidth: 64, defaultHeight: 64, defaultScheduler: Scheduler.DDIM, native: true },
    ]);
    r.detach('w1');
    expect(r.defaultsFor('shapes-ldm').native).toBe(false);
    expect(r.isAccepted('shapes-ldm')).toBe(false);
  });

  it('counts workers per model and keeps the first announcement when workers disagree', () => {
    const r = registry();
    expect(r.attach('w1', hello('w1', ['shapes-ldm'], [shapes]))).toEqual([]);
    const problems = r.attach('w2', hello('w2', ['shapes-ldm'], [{ ...shapes, width: 128 }]));
    expect(problems).toEqual([expect.stringMatching(/^announces shapes-ldm at 128×64 \(DDIM\), but worker w1 announced shapes-ldm at 64×64 \(DDIM\) first: jobs get that$/)]);
    expect(r.defaultsFor('shapes-ldm').width).toBe(64);
    expect(r.status().find((m) => m.name === 'shapes-ldm')?.workers).toBe(2);
    // The first one leaves: the remaining worker's announcement holds.
    r.detach('w1');
    expect(r.defaultsFor('shapes-ldm').width).toBe(128);
  });

  it('ignores announcements it cannot use, saying why', () => {
    const r = registry({ maxWidth: 1024 });
    const problems = r.attach('w1', hello('w1', ['a', 'b', 'c'], [
      { name: 'not-served', width: 64, height: 64, scheduler: Scheduler.DDIM },
      { name: 'a', width: 60, height: 64, scheduler: Scheduler.DDIM },
      { name: 'b', width: 4096, height: 64, scheduler: Scheduler.DDIM },
      { name: 'c', width: 64, height: 64, scheduler: 42 as Scheduler },
    ]));
    expect(problems).toEqual([
      expect.stringMatching(/"not-served" ignored: a model it does not serve/),
      expect.stringMatching(/"a" ignored: size 60×64/),
      expect.stringMatching(/"b" ignored: size 4096×64/),
      expect.stringMatching(/"c" ignored: unknown scheduler 42/),
    ]);
    for (const m of ['a', 'b', 'c']) expect(r.defaultsFor(m).native).toBe(false);
  });

  describe('the model of a job that names none', () => {
    it('is --default-model when set, accepted ahead of any worker', () => {
      const r = registry({ defaultModel: 'sd15' });
      r.attach('w1', hello('w1', ['shapes-ldm', 'sim'], [shapes]));
      expect(r.resolve('')).toBe('sd15');
      expect(r.isAccepted('sd15')).toBe(true);
    });

    it('is the one real model served or accepted, whatever sim workers there are', () => {
      const r = registry();
      r.attach('s', hello('s', ['sim']));
      r.attach('w1', hello('w1', ['shapes-ldm'], [shapes]));
      expect(r.resolve('')).toBe('shapes-ldm');
      expect(registry({ accepted: ['queued-only'] }).resolve('')).toBe('queued-only');
    });

    it('is sim on a farm of sim workers only', () => {
      const r = registry();
      r.attach('s', hello('s', ['sim']));
      expect(r.resolve('')).toBe('sim');
    });

    it('is refused, naming the models, when there are several', () => {
      const r = registry({ accepted: ['sd15'] });
      r.attach('w1', hello('w1', ['shapes-ldm'], [shapes]));
      const err = thrown(() => r.resolve(''));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe('spec.model: missing, and this farm serves several models (sd15, shapes-ldm): name one, or start the coordinator with --default-model');
      expect(r.defaultModelName()).toBe('');
    });

    it('is refused when no worker serves a model yet', () => {
      const err = thrown(() => registry().resolve(''));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toMatch(/^spec\.model: missing, and no worker serves a model yet: name one, start a worker/);
    });
  });

  it('refuses a model nobody serves with NOT_FOUND that says how to serve it', () => {
    const r = registry();
    r.attach('s', hello('s', ['sim']));
    const err = thrown(() => r.resolve('shapes-ldm'));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe('model "shapes-ldm" is not served by this farm (served now: sim); '
      + 'start a worker for it (latentfarm worker --engine onnx --model-dir <folder>/shapes-ldm), '
      + 'or start the coordinator with --models shapes-ldm to accept its jobs before any worker connects (they wait queued)');
    // A long name is echoed short.
    expect(thrown(() => r.resolve('x'.repeat(300))).message.length).toBeLessThan(450);
  });
});
