// The retention sweeper on a real embedded store: a job's credits are settled
// from its image events, so each sweep settles ended jobs first, and a sweep
// whose settling failed expires nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import { tempDir } from '@latentfarm/testkit';
import { EmbeddedStore } from '../store/embedded.js';
import { newJobId, record, source } from '../store/store.contract.js';
import { RetentionSweeper } from './retention.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

async function storeWithOldFinishedJob(): Promise<{ store: EmbeddedStore; id: string }> {
  const dir = await tempDir();
  cleanup.push(() => dir.remove());
  const store = new EmbeddedStore(dir.path);
  cleanup.push(() => store.close());
  const id = newJobId();
  const old = Date.now() - 60_000;
  await store.createJob({ ...record(id, 1), createdUnixMs: old - 1_000, state: JobState.SUCCEEDED, startedUnixMs: old - 500, finishedUnixMs: old }, source(id, 1));
  return { store, id };
}

describe('retention sweeper', () => {
  it('settles ended jobs before it expires them: the job is still there when settling runs, and gone after', async () => {
    const { store, id } = await storeWithOldFinishedJob();
    const seenWhileSettling: boolean[] = [];
    const sweeper = new RetentionSweeper({
      store, retainForMs: 10_000, retainBytes: 0, log: createLogger('test', 'silent'),
      settleFirst: async () => { seenWhileSettling.push((await store.getJob(id)) !== undefined); return true; },
    });
    expect(await sweeper.sweep()).toBe(1);
    expect(seenWhileSettling).toEqual([true]);
    expect(await store.getJob(id)).toBeUndefined();
  });

  it('expires nothing when settling failed (the ledger did not answer): the next sweep tries again', async () => {
    const { store, id } = await storeWithOldFinishedJob();
    let ledgerUp = false;
    const sweeper = new RetentionSweeper({
      store, retainForMs: 10_000, retainBytes: 0, log: createLogger('test', 'silent'), settleFirst: () => Promise.resolve(ledgerUp),
    });
    expect(await sweeper.sweep()).toBe(0);
    expect(await store.getJob(id)).toBeDefined();
    ledgerUp = true;
    expect(await sweeper.sweep()).toBe(1);
  });
});
