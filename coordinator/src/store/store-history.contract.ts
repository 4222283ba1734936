// The Store's history contract, run against both stores beside the main
// contract (embedded.test.ts, jetstream.test.ts): listing by owner, state,
// label and creation time a page at a time, and retention that expires
// finished jobs with everything of theirs and leaves everything else alone.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { scopedIdempotencyKey } from './job-query.js';
import { info, record, source, type StoreHarness } from './store.contract.js';

/** What the history contract needs of a store under test. */
type HistoryHarness = Pick<StoreHarness, 'store' | 'close'>;
import type { JobCursor, JobFilter, JobRecord, Store } from './store.js';

let n = 0;
/** An id as the Farm makes them: its creation time first, so ids sort by creation. */
const idAt = (t: number): string => `j${t.toString(36)}${(n++).toString(36).padStart(4, '0')}`;
const any: JobFilter = { states: [], labels: {}, createdAfterMs: 0 };

async function jobAt(store: Store, t: number, change: Partial<JobRecord> = {}, labels: Record<string, string> = {}): Promise<JobRecord> {
  const id = idAt(t);
  const base = record(id, 2);
  const spec = change.spec ?? base.spec;
  const job: JobRecord = { ...base, createdUnixMs: t, ...change, spec: { ...spec, labels: { ...spec.labels, ...labels } } };
  await store.createJob(job, source(id, 2));
  return job;
}

/** Every page of a listing, `size` jobs at a time, each page after the last job of the one before. */
async function allPages(store: Store, filter: JobFilter, size: number, between?: () => Promise<void>): Promise<string[][]> {
  const pages: string[][] = [];
  let after: JobCursor | undefined;
  for (;;) {
    const page = await store.listJobs(filter, after, size);
    if (page.length === 0) return pages;
    pages.push(page.map((j) => j.id));
    after = page.at(-1);
    await between?.();
  }
}

export function describeHistoryContract(name: string, make: () => Promise<HistoryHarness>): void {
  describe(`Store history contract: ${name}`, () => {
    let h: HistoryHarness;
    let store: Store;
    beforeEach(async () => {
      h = await make();
      store = h.store;
    });
    afterEach(async () => h?.close());

    it('lists newest first a page at a time, unshaken by jobs created between pages, filtered by owner, state, label and time', async () => {
      const t0 = Date.now() - 100_000;
      const jobs: JobRecord[] = [];
      for (let i = 0; i < 7; i++) {
        jobs.push(await jobAt(store, t0 + i * 1_000, { owner: i % 2 === 0 ? 'ta' : 'tb', state: i < 2 ? JobState.SUCCEEDED : JobState.QUEUED },
          { color: i % 3 === 0 ? 'red' : 'blue' }));
      }
      const newestFirst = jobs.map((j) => j.id).reverse();
      // A job created while the pages are read comes before the first page: it never shifts a later one.
      let late: JobRecord | undefined;
      const pages = await allPages(store, any, 3, async () => { late ??= await jobAt(store, Date.now()); });
      expect(pages).toEqual([newestFirst.slice(0, 3), newestFirst.slice(3, 6), newestFirst.slice(6)]);
      expect((await store.listJobs(any, undefined, 1)).map((j) => j.id)).toEqual([late?.id]);

      const ids = async (f: Partial<JobFilter>) => (await allPages(store, { ...any, ...f }, 2)).flat();
      expect(await ids({ owner: 'tb' })).toEqual([jobs[5], jobs[3], jobs[1]].map((j) => j?.id));
      expect(await ids({ owner: 'nobody' })).toEqual([]);
      expect(await ids({ states: [JobState.SUCCEEDED] })).toEqual([jobs[1], jobs[0]].map((j) => j?.id));
      expect(await ids({ labels: { color: 'red' } })).toEqual([jobs[6], jobs[3], jobs[0]].map((j) => j?.id));
      expect(await ids({ labels: { color: 'red', suite: 'contract' }, owner: 'ta' })).toEqual([jobs[6], jobs[0]].map((j) => j?.id));
      expect(await ids({ createdAfterMs: t0 + 4_000, owner: 'ta' })).toEqual([jobs[6], jobs[4]].map((j) => j?.id));
    });

    it('expires finished jobs that finished before the cut-off with their events, dead letters, key and images; nothing else', async () => {
      const now = Date.now();
      const expiredSeen: string[] = [];
      store.onJobExpired((id) => expiredSeen.push(id));
      // Finished 20 s ago: expires with a retention of 10 s. The rest is younger or unfinished, however old.
      const old = await jobAt(store, now - 60_000, { state: JobState.PARTIAL, finishedUnixMs: now - 20_000, spec: { ...record('x', 1).spec, idempotencyKey: 'k1' } });
      const running = await jobAt(store, now - 90_000, { state: JobState.RUNNING });
      const queued = await jobAt(store, now - 80_000);
      const recent = await jobAt(store, now - 50_000, { state: JobState.SUCCEEDED, finishedUnixMs: now - 1_000 });
      const jobs = [old, running, queued, recent];
      expect(await store.claimIdempotencyKey(scopedIdempotencyKey('', 'k1'), old.id)).toBe(old.id);
      for (const j of jobs) {
        await store.commitImage(j.id, 0, info(j.id, 0), { data: new Uint8Array([1, 2, 3]), mimeType: 'image/png' });
        await store.commitImage(j.id, 1, info(j.id, 1, false));
        await store.deadLetter(source(j.id, 2).task(1), 'boom');
      }

      expect(await store.expireJobs(now - 10_000, 100)).toEqual([old.id]);
      expect(expiredSeen).toContain(old.id);
      expect(await store.getJob(old.id)).toBeUndefined();
      expect(await store.readEvents(old.id, 0, 10)).toEqual([]);
      expect(await store.imageInfo(old.id, 0)).toBeUndefined();
      expect(await store.getImage(`${old.id}/0`)).toBeUndefined();
      expect((await store.listJobs(any, undefined, 10)).map((j) => j.id)).not.toContain(old.id);
      // The key is free again: a new job may take it.
      expect(await store.claimIdempotencyKey(scopedIdempotencyKey('', 'k1'), 'jnewjob')).toBe('jnewjob');

      for (const j of [running, queued, recent]) {
        expect(await store.getJob(j.id)).toMatchObject({ id: j.id, state: j.state });
        expect(await store.getImage(`${j.id}/0`)).toMatchObject({ mimeType: 'image/png' });
        expect((await store.readEvents(j.id, 0, 10)).length).toBe(2);
        expect(await store.counts(j.id)).toEqual({ succeeded: 1, failed: 1 });
      }
      // Nothing more to do: a second sweep (or a second coordinator's) finds nothing.
      expect(await store.expireJobs(now - 10_000, 100)).toEqual([]);
      // The limit is kept, oldest finished first.
      const a = await jobAt(store, now - 45_000, { state: JobState.FAILED, finishedUnixMs: now - 15_000 });
      const b = await jobAt(store, now - 40_000, { state: JobState.CANCELLED, finishedUnixMs: now - 12_000 });
      expect(await store.expireJobs(now - 10_000, 1)).toEqual([a.id]);
      expect(await store.expireJobs(now - 10_000, 1)).toEqual([b.id]);
      expect(await store.getJob(b.id)).toBeUndefined();
    });

    it('expires the oldest finished jobs while the images take more than the cap; running and recent jobs stay', async () => {
      const now = Date.now();
      const size = 100_000;
      const withImages = async (j: JobRecord, images: number) => {
        for (let i = 0; i < images; i++) {
          await store.commitImage(j.id, i, { ...info(j.id, i), sizeBytes: size }, { data: new Uint8Array(size).fill(i + 1), mimeType: 'image/png' });
        }
        return j;
      };
      const running = await withImages(await jobAt(store, now - 90_000, { state: JobState.RUNNING }), 1);
      const oldest = await withImages(await jobAt(store, now - 80_000, { state: JobState.SUCCEEDED, finishedUnixMs: now - 70_000 }), 2);
      const older = await withImages(await jobAt(store, now - 60_000, { state: JobState.FAILED, finishedUnixMs: now - 50_000 }), 1);
      const recent = await withImages(await jobAt(store, now - 40_000, { state: JobState.SUCCEEDED, finishedUnixMs: now - 1_000 }), 1);
      // Five images of 100 kB: under a cap of 600 kB nothing goes.
      expect(await store.expireToFit(6 * size, 100)).toEqual([]);
      // A cap of 250 kB: the two oldest finished jobs go (three images), then two images are left and it stops.
      expect(await store.expireToFit(2.5 * size, 100)).toEqual([oldest.id, older.id]);
      for (const j of [oldest, older]) {
        expect(await store.getJob(j.id)).toBeUndefined();
        expect(await store.getImage(`${j.id}/0`)).toBeUndefined();
      }
      for (const j of [running, recent]) expect(await store.getImage(`${j.id}/0`)).toMatchObject({ mimeType: 'image/png' });
      // Below what running and recent jobs hold: only the finished one can go; the running job's image stays.
      expect(await store.expireToFit(0, 100)).toEqual([recent.id]);
      expect(await store.getImage(`${running.id}/0`)).toMatchObject({ mimeType: 'image/png' });
      expect(await store.getJob(running.id)).toMatchObject({ state: JobState.RUNNING });
    });
  });
}
