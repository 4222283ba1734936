// What the handlers get from the farm: the events of a job as an async
// iterable, any finished image by id, and the estimate of a submission.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@latentfarm/common';
import { GenerationParams, JobState } from '@latentfarm/proto';
import type { WatchEvent } from './api.js';
import { hello, link, PNG_HEAD_BYTES, prompts, result, spec, tagOf, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN as P } from './principal.js';

const everything = { images: true, progress: true };

describe('Farm.events', () => {
  let t: TestFarm;
  beforeEach(async () => { t = await testFarm(); });
  afterEach(async () => t.close());

  it('replays the log, goes on live with step progress and image bytes, and ends after the final state', async () => {
    const { farm } = t;
    const { job } = await farm.submit(P, spec(), prompts(2));
    const a = link();
    const s = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(s, 2);
    await farm.settled();
    const [t0, t1] = a.leased();
    const seen: WatchEvent[] = [];
    for await (const e of farm.events(P, job.id, 0, new AbortController().signal, everything)) {
      seen.push(e);
      if (e.kind === 'state' && e.state === JobState.RUNNING) farm.recordProgress(s, [{ taskId: t0!.taskId, epoch: t0!.epoch, step: 1, totalSteps: 2 }]);
      if (e.kind === 'progress') {
        await farm.acceptResult(s, result(t0!, 'first'));
        await farm.acceptResult(s, result(t1!, 'second'));
      }
    }
    expect(seen.map((e) => e.kind)).toEqual(['state', 'state', 'progress', 'image', 'image', 'state']);
    expect(seen.flatMap((e) => (e.kind === 'state' ? [e.state] : []))).toEqual([JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]);
    const progress = seen[2];
    expect(progress?.kind === 'progress' && progress.images).toEqual([{ imageId: t0!.taskId, step: 1, totalSteps: 2 }]);
    const images = seen.flatMap((e) => (e.kind === 'image' ? [tagOf(e.data)] : []));
    expect(images).toEqual(['first', 'second']);
    const seqs = seen.filter((e) => e.kind !== 'progress').map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));

    // Resumed after the final event: nothing follows. Resumed in the middle: exactly the rest.
    const last = seqs.at(-1)!;
    const none: WatchEvent[] = [];
    for await (const e of farm.events(P, job.id, last, new AbortController().signal, everything)) none.push(e);
    expect(none).toEqual([]);
    const rest: WatchEvent[] = [];
    for await (const e of farm.events(P, job.id, seqs[2]!, new AbortController().signal, { images: false, progress: false })) rest.push(e);
    expect(rest.map((e) => e.kind)).toEqual(['image', 'state']);
    expect(rest[0]?.kind === 'image' && rest[0].data).toBeUndefined();
  });

  it('refuses an unknown job and a sequence beyond the last event before yielding anything', async () => {
    const { farm } = t;
    const { job } = await farm.submit(P, spec(), prompts(1));
    const first = async (jobId: string, after: number) => {
      for await (const e of farm.events(P, jobId, after, new AbortController().signal, everything)) return e;
      return undefined;
    };
    await expect(first('jnope', 0)).rejects.toBeInstanceOf(NotFoundError);
    await expect(first(job.id, job.lastSequence + 1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('stops when the signal aborts', async () => {
    const { farm } = t;
    const { job } = await farm.submit(P, spec(), prompts(1));
    const ac = new AbortController();
    const kinds: string[] = [];
    for await (const e of farm.events(P, job.id, 0, ac.signal, everything)) {
      kinds.push(e.kind);
      ac.abort();
    }
    expect(kinds).toEqual(['state']);
  });
});

describe('Farm.image and Farm.estimate', () => {
  let t: TestFarm;
  beforeEach(async () => { t = await testFarm(); });
  afterEach(async () => t.close());

  it('serves a rendered image with its stored size and type, and says why another cannot be', async () => {
    const { farm } = t;
    const { job } = await farm.submit(P, spec(), prompts(2));
    const a = link();
    const s = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(s, 1);
    await farm.settled();
    await farm.acceptResult(s, result(a.leased()[0]!, 'pixels'));
    const got = await farm.image(P, `${job.id}/0`);
    expect(tagOf(got.data)).toBe('pixels');
    expect(got.info).toMatchObject({ id: `${job.id}/0`, sizeBytes: PNG_HEAD_BYTES + 6, mimeType: 'image/png' });
    await expect(farm.image(P, `${job.id}/1`)).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(farm.image(P, `${job.id}/2`)).rejects.toBeInstanceOf(NotFoundError);
    await expect(farm.image(P, 'not an id')).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('prices a submission as the submitted job is priced, per entry size', async () => {
    const { farm } = t;
    const entries = [...prompts(3), { prompt: 'big', negativePrompt: '', images: 2, overrides: GenerationParams.fromPartial({ width: 512, height: 512, steps: 50 }) }];
    const estimate = farm.estimate(P, spec(), entries);
    expect(estimate).toMatchObject({ images: 5, creditsPerImageMax: 1 });
    expect(estimate.creditsPerImageMin).toBeLessThan(1);
    expect(estimate.formula).toContain('width×height');
    const { job } = await farm.submit(P, spec(), entries);
    expect(job.estimatedCredits).toBe(estimate.credits);
    expect(() => farm.estimate(P, spec(), [])).toThrow(InvalidArgumentError);
  });
});
