// SubmitJobStream as the farm runs it: each chunk of prompts goes to the store
// as it arrives (the coordinator never holds the whole job), and a stream that
// passes the job's image limit is refused at that entry with nothing kept.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import type { SubmitItem } from './jobs.js';
import { prompts, spec, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN as P } from './principal.js';

const chunk = (n: number): SubmitItem => ({ $case: 'prompts', value: { entries: prompts(n) } });

describe('Farm.submitStream', () => {
  let t: TestFarm | undefined;
  afterEach(async () => t?.close());
  const storedTasks = (): number => t?.store.database.prepare('SELECT count(*) FROM tasks').pluck().get() as number;

  it('writes each chunk to the store before it reads the next, and makes the job when the stream ends', async () => {
    t = await testFarm();
    const seen: number[] = [];
    async function* items(): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec() };
      for (let i = 0; i < 3; i++) {
        yield chunk(4);
        // Asked for more: what came before is in the store already, not in the coordinator's memory.
        seen.push(storedTasks());
      }
      yield { $case: 'end', value: {} };
    }
    const { job, created } = await t.farm.submitStream(P, items());
    expect(seen).toEqual([4, 8, 12]);
    expect(created).toBe(true);
    expect(job).toMatchObject({ state: JobState.QUEUED, promptCount: 12, images: { total: 12 } });
    expect((await t.farm.job(P, job.id)).promptCount).toBe(12);
  });

  it('refuses a stream at the first entry past the image limit, reads no further and keeps nothing of it', async () => {
    t = await testFarm(undefined, { maxImagesPerJob: 10 });
    let chunksRead = 0;
    async function* endless(): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec() };
      for (;;) {
        chunksRead++;
        yield chunk(4);
      }
    }
    const err: unknown = await t.farm.submitStream(P, endless()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^entries\[10\]: takes the job past 10 images/);
    // Entries 8..11 came in the third chunk; nothing after it was read.
    expect(chunksRead).toBe(3);
    expect(storedTasks()).toBe(0);
    expect((await t.farm.list(P, { pageSize: 0, pageToken: '', states: [], labels: {} })).jobs).toEqual([]);
  });

  it('keeps nothing of a stream with a bad entry', async () => {
    t = await testFarm();
    async function* items(): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec() };
      yield chunk(5);
      yield { $case: 'prompts', value: { entries: [{ prompt: ' ', negativePrompt: '', images: 1 }] } };
    }
    await expect(t.farm.submitStream(P, items())).rejects.toThrow(/entries\[5\]\.prompt: empty/);
    expect(storedTasks()).toBe(0);
  });

  it('makes no job of a stream that stops before its end message (its client was cancelled or died), and keeps nothing', async () => {
    t = await testFarm();
    async function* cutOff(): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec() };
      yield chunk(5);
    }
    await expect(t.farm.submitStream(P, cutOff())).rejects.toThrow(/^end: missing: the stream stopped before its end message/);
    expect(storedTasks()).toBe(0);
    expect((await t.farm.list(P, { pageSize: 0, pageToken: '', states: [], labels: {} })).jobs).toEqual([]);
  });
});
