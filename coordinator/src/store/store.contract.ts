// The Store contract, written once and run against every implementation
// (embedded.test.ts, jetstream.test.ts). What the Farm relies on is asserted
// here; what only one implementation promises (lease expiry, several
// coordinators) is tested beside that implementation.
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FinishReason, ImageFormat, JobState, Scheduler, type ImageInfo } from '@latentfarm/proto';
import { eventually } from '@latentfarm/testkit';
import type { FarmEvent, JobRecord, Store, StoredLease, TaskSource, TaskSpec } from './store.js';

export interface StoreHarness {
  store: Store;
  /** Tasks of the job held in the store's own storage, leasable or not (read past the Store interface). */
  storedTasks(jobId: string): Promise<number>;
  close(): Promise<void>;
}

let idCounter = 0;
/** Time-ordered like the Farm's ids, so listJobIds order can be checked. */
export const newJobId = (): string => `j${Date.now().toString(36)}${(idCounter++).toString(36).padStart(4, '0')}${randomBytes(3).toString('hex')}`;

const params = { width: 64, height: 64, steps: 4, cfgScale: 7, scheduler: Scheduler.EULER, outputFormat: ImageFormat.PNG, seed: 1 };

export function record(id: string, total: number): JobRecord {
  return {
    id, owner: '', total, promptCount: total, createdUnixMs: Date.now(), estimatedCredits: total, state: JobState.QUEUED,
    startedUnixMs: 0, finishedUnixMs: 0, reason: '',
    spec: { model: 'sim', priority: 5, labels: { suite: 'contract' }, idempotencyKey: '', params: { ...params, seed: 7 } },
  };
}

export function source(jobId: string, total: number): TaskSource {
  return { total, task: (index: number): TaskSpec => task(jobId, index) };
}

function task(jobId: string, index: number): TaskSpec {
  return { jobId, index, entryIndex: index, prompt: `prompt ${index}`, negativePrompt: '', params: { ...params, seed: 7 + index }, attempts: 0, losses: 0 };
}

/** Tasks `from` to `to` (exclusive), as one chunk of a streamed job. */
const range = (jobId: string, from: number, to: number) => ({ from, to, task: (index: number) => task(jobId, index) });

export function info(jobId: string, index: number, ok = true): ImageInfo {
  return {
    id: `${jobId}/${index}`, jobId, index, entryIndex: index, prompt: `prompt ${index}`, negativePrompt: '', model: 'sim',
    params: { ...params, seed: 7 + index }, finishReason: ok ? FinishReason.SUCCESS : FinishReason.ERROR, error: ok ? '' : 'boom',
    workerId: 'w1', sizeBytes: ok ? 3 : 0, mimeType: ok ? 'image/png' : '',
  };
}

/**
 * Image `index`'s bytes in the embedded store's crash test: every fourth one `bigBytes` long (a file), the rest
 * 4 bytes (kept in the database), so both kinds are being written when the kill lands.
 */
export function crashTestImage(index: number, bigBytes: number): Uint8Array {
  const data = new Uint8Array(index % 4 === 3 ? bigBytes : 4);
  data.set([index % 256, 1, 2, 3]);
  return data;
}

const counts = (total: number, succeeded = 0, failed = 0) => ({ total, succeeded, failed, cancelled: 0, running: 0 });

export async function newJob(store: Store, total: number): Promise<string> {
  const id = newJobId();
  await store.createJob(record(id, total), source(id, total));
  return id;
}

/** Leases until `n` tasks are held or nothing more comes (a store may hand a returned task back a moment later). */
export async function leaseAll(store: Store, jobId: string, n: number, timeoutMs = 5_000): Promise<StoredLease[]> {
  const out: StoredLease[] = [];
  const end = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < end) {
    const got = await store.leaseTasks(jobId, n - out.length);
    out.push(...got);
    if (got.length === 0) await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}

export function describeStoreContract(name: string, make: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness;
    let store: Store;
    beforeEach(async () => {
      h = await make();
      store = h.store;
    });
    afterEach(async () => h?.close());

    it('writes a streamed job chunk by chunk: stored at once, seen and leased only once committed, in order', async () => {
      const id = newJobId();
      const writer = store.beginJob(id);
      await writer.addTasks(range(id, 0, 3));
      await writer.addTasks(range(id, 3, 5));
      expect(await h.storedTasks(id)).toBe(5);
      expect(await store.getJob(id)).toBeUndefined();
      expect(await store.listJobIds()).not.toContain(id);
      await writer.commit(record(id, 5));
      expect((await store.getJob(id))?.total).toBe(5);
      const leases = await leaseAll(store, id, 5);
      expect(leases.map((l) => [l.task.index, l.task.prompt])).toEqual([0, 1, 2, 3, 4].map((i) => [i, `prompt ${i}`]));
    });

    it('discards a streamed job that is refused: none of its tasks is kept, and no record was made', async () => {
      const id = newJobId();
      const writer = store.beginJob(id);
      await writer.addTasks(range(id, 0, 4));
      await writer.addTasks(range(id, 4, 7));
      expect(await h.storedTasks(id)).toBe(7);
      await writer.discard();
      expect(await h.storedTasks(id)).toBe(0);
      expect(await store.getJob(id)).toBeUndefined();
    });

    it('stores jobs, lists them oldest first and reads back what was written', async () => {
      const a = newJobId();
      const written = record(a, 3);
      await store.createJob(written, source(a, 3));
      const b = await newJob(store, 5);
      expect(await store.getJob(a)).toEqual(written);
      const ids = await store.listJobIds();
      expect(ids.filter((id) => id === a || id === b)).toEqual([a, b]);
      const got = await store.getJob(b);
      expect(got).toMatchObject({ id: b, total: 5, state: JobState.QUEUED, spec: { model: 'sim', labels: { suite: 'contract' } } });
      expect(await store.getJob('jnosuchjob')).toBeUndefined();
      expect(await store.getJob('not a valid/id')).toBeUndefined();
    });

    it('updates a job by compare-and-set: concurrent changes all apply, an undefined change leaves it alone', async () => {
      const id = await newJob(store, 1);
      await Promise.all(Array.from({ length: 12 }, () =>
        store.updateJob(id, (j) => ({ ...j, reason: `${j.reason}x` }))));
      expect((await store.getJob(id))?.reason).toBe('x'.repeat(12));
      expect(await store.updateJob(id, () => undefined)).toBeUndefined();
      expect((await store.getJob(id))?.reason).toBe('x'.repeat(12));
      const changed = await store.updateJob(id, (j) => ({ ...j, state: JobState.RUNNING, startedUnixMs: 5 }));
      expect(changed).toMatchObject({ id, state: JobState.RUNNING, startedUnixMs: 5 });
      expect(await store.updateJob('jnosuchjob', (j) => j)).toBeUndefined();
    });

    it('tells job listeners about every new job and change', async () => {
      const seen: JobRecord[] = [];
      store.onJobChange((j) => seen.push(j));
      const id = await newJob(store, 2);
      await store.updateJob(id, (j) => ({ ...j, state: JobState.RUNNING }));
      await eventually(() => seen.some((j) => j.id === id && j.state === JobState.RUNNING), 5_000, 'the RUNNING change');
      expect(seen.some((j) => j.id === id && j.state === JobState.QUEUED)).toBe(true);
    });

    it('claims an idempotency key once, also when many claim it at the same moment', async () => {
      const key = `key-${randomBytes(4).toString('hex')}`;
      expect(await store.idempotencyKeyHolder(key)).toBeUndefined();
      const claimants = Array.from({ length: 20 }, () => newJobId());
      // Reading a key claims nothing: it is still free after.
      expect(await store.idempotencyKeyHolder(key)).toBeUndefined();
      const holders = await Promise.all(claimants.map((id) => store.claimIdempotencyKey(key, id)));
      expect(await store.idempotencyKeyHolder(key)).toBe(holders[0]);
      expect(new Set(holders).size).toBe(1);
      expect(claimants).toContain(holders[0]);
      expect(await store.claimIdempotencyKey(key, newJobId())).toBe(holders[0]);
      expect(await store.idempotencyKeyHolder(key)).toBe(holders[0]);
      const other = newJobId();
      expect(await store.claimIdempotencyKey(`${key}-other`, other)).toBe(other);
    });

    it('leases every task exactly once, each lease with its own epoch, and up to the number asked for', async () => {
      const id = await newJob(store, 25);
      const first = await store.leaseTasks(id, 10);
      expect(first.length).toBeLessThanOrEqual(10);
      const all = [...first, ...(await leaseAll(store, id, 25 - first.length))];
      expect(all.map((l) => l.task.index).sort((x, y) => x - y)).toEqual(Array.from({ length: 25 }, (_, i) => i));
      expect(new Set(all.map((l) => l.epoch)).size).toBe(25);
      const t = all.find((l) => l.task.index === 4)!.task;
      expect(t).toMatchObject({ jobId: id, index: 4, prompt: 'prompt 4', attempts: 0, losses: 0, params: { seed: 11 } });
      for (const l of all) store.extendLease(l);
      await Promise.all(all.map((l) => store.completeLease(l)));
      expect(await store.leaseTasks(id, 25)).toEqual([]);
      expect(await store.leaseTasks('jnosuchjob', 5)).toEqual([]);
    });

    it('queues returned and retried tasks again with their history and a new epoch', async () => {
      const id = await newJob(store, 3);
      const held = await leaseAll(store, id, 3);
      const by = (ls: StoredLease[], i: number) => ls.find((l) => l.task.index === i)!;
      const waiting: string[] = [];
      store.onTasksWaiting((j) => waiting.push(j));
      await store.returnLease(by(held, 0), true);
      await store.returnLease(by(held, 1), false);
      await store.retryLease(by(held, 2), 2);
      expect(waiting).toContain(id);
      const again = await leaseAll(store, id, 3);
      expect(again.map((l) => l.task.index).sort()).toEqual([0, 1, 2]);
      expect(by(again, 0).task).toMatchObject({ losses: 1, attempts: 0 });
      expect(by(again, 1).task).toMatchObject({ losses: 0, attempts: 0 });
      expect(by(again, 2).task).toMatchObject({ losses: 0, attempts: 2 });
      for (const l of again) expect(held.map((x) => x.epoch)).not.toContain(l.epoch);
      await Promise.all(again.map((l) => store.completeLease(l)));
      expect(await store.leaseTasks(id, 3)).toEqual([]);
    });

    it('tells task listeners when a job has tasks to lease', async () => {
      const waiting: string[] = [];
      store.onTasksWaiting((j) => waiting.push(j));
      const id = await newJob(store, 2);
      expect(waiting).toContain(id);
    });

    it('drops the waiting tasks of a cancelled job and never queues them again', async () => {
      const id = await newJob(store, 10);
      const control = await newJob(store, 3);
      const held = await leaseAll(store, id, 3);
      const controlHeld = await leaseAll(store, control, 3);
      expect(held).toHaveLength(3);
      expect(controlHeld).toHaveLength(3);
      expect(await store.dropTasks(id)).toBe(7);
      expect(await store.leaseTasks(id, 10)).toEqual([]);
      const handBack = async (h: StoredLease[]) => {
        await store.returnLease(h[0]!, true);
        await store.returnLease(h[1]!, false);
        await store.retryLease(h[2]!, 1);
      };
      await handBack(held);
      await handBack(controlHeld);
      // A running job's tasks handed back the same three ways came back: the dropped job's, handed back first,
      // would have by now.
      expect(await leaseAll(store, control, 3)).toHaveLength(3);
      expect(await store.leaseTasks(id, 10)).toEqual([]);
    });

    it('commits each image once, also when two commits race, and counts outcomes', async () => {
      const id = await newJob(store, 4);
      const raced = await Promise.all([store.commitImage(id, 0, info(id, 0)), store.commitImage(id, 0, info(id, 0))]);
      expect(raced.filter((e) => e !== undefined)).toHaveLength(1);
      expect(await store.commitImage(id, 0, info(id, 0))).toBeUndefined();
      expect(await store.counts(id)).toEqual({ succeeded: 1, failed: 0 });
      const failed = await store.commitImage(id, 1, info(id, 1, false));
      expect(failed).toMatchObject({ kind: 'image', info: { index: 1, finishReason: FinishReason.ERROR, error: 'boom' } });
      await store.deadLetter(source(id, 4).task(1), 'boom');
      expect(await store.counts(id)).toEqual({ succeeded: 1, failed: 1 });
      expect(await store.imageInfo(id, 0)).toEqual(info(id, 0));
      expect(await store.imageInfo(id, 1)).toMatchObject({ finishReason: FinishReason.ERROR });
      expect(await store.imageInfo(id, 3)).toBeUndefined();
      await store.commitImage(id, 2, info(id, 2));
      await store.commitImage(id, 3, info(id, 3));
      // All committed: the counts are final.
      expect(await store.counts(id)).toEqual({ succeeded: 3, failed: 1 });
      expect(await store.commitImage(id, 3, info(id, 3, false))).toBeUndefined();
      expect(await store.counts(id)).toEqual({ succeeded: 3, failed: 1 });
    });

    it('appends state events; a fenced one at most once per fence', async () => {
      const id = await newJob(store, 2);
      const queued = { kind: 'state' as const, state: JobState.QUEUED, counts: counts(2), reason: '' };
      const first = await store.appendState(id, queued, 'queued');
      expect(first).toMatchObject({ kind: 'state', state: JobState.QUEUED, counts: counts(2) });
      expect(await store.appendState(id, queued, 'queued')).toBeUndefined();
      const racing = await Promise.all([1, 2, 3].map(() => store.appendState(id, { ...queued, state: JobState.CANCELLED }, 'end')));
      expect(racing.filter((e) => e !== undefined)).toHaveLength(1);
      expect(await store.appendState(id, { ...queued, state: JobState.RUNNING })).toBeDefined();
      expect(await store.appendState(id, { ...queued, state: JobState.RUNNING })).toBeDefined();
      const events = await store.readEvents(id, 0, 100);
      expect(events.map((e) => e.kind === 'state' && e.state)).toEqual([JobState.QUEUED, JobState.CANCELLED, JobState.RUNNING, JobState.RUNNING]);
    });

    it('replays events in order from any sequence a reader saw, with increasing sequence numbers', async () => {
      const id = await newJob(store, 6);
      const other = await newJob(store, 6);
      expect(await store.lastSequence(id)).toBe(0);
      expect(await store.readEvents(id, 0, 10)).toEqual([]);
      await store.appendState(id, { kind: 'state', state: JobState.QUEUED, counts: counts(6), reason: '' }, 'queued');
      for (let i = 0; i < 6; i++) {
        await store.commitImage(id, i, info(id, i));
        await store.commitImage(other, i, info(other, i));
      }
      const all = await store.readEvents(id, 0, 100);
      expect(all).toHaveLength(7);
      expect(all[0]).toMatchObject({ kind: 'state', state: JobState.QUEUED });
      expect(all.slice(1).map((e) => e.kind === 'image' && e.info.index)).toEqual([0, 1, 2, 3, 4, 5]);
      for (let i = 1; i < all.length; i++) expect(all[i]!.seq).toBeGreaterThan(all[i - 1]!.seq);
      expect(all.every((e) => e.unixMs > 0)).toBe(true);
      expect(await store.lastSequence(id)).toBe(all.at(-1)!.seq);
      // Page through with a small limit, as WatchJob does, resuming from the last sequence seen.
      const paged: FarmEvent[] = [];
      let after = 0;
      for (let page = 0; page < 10; page++) {
        const got = await store.readEvents(id, after, 3);
        expect(got.length).toBeLessThanOrEqual(3);
        if (got.length === 0) break;
        paged.push(...got);
        after = got.at(-1)!.seq;
      }
      expect(paged).toEqual(all);
      expect(await store.readEvents(id, all[2]!.seq, 2)).toEqual(all.slice(3, 5));
      expect(await store.readEvents(id, all.at(-1)!.seq, 10)).toEqual([]);
    });

    it('wakes a reader waiting for events when one is written, or when it gives up', async () => {
      const id = await newJob(store, 2);
      const before = await store.lastSequence(id);
      const ac = new AbortController();
      let woke = false;
      const waiting = store.waitForEvents(id, before, ac.signal).then(() => { woke = true; });
      await new Promise((r) => setTimeout(r, 100));
      const e = await store.commitImage(id, 0, info(id, 0));
      await eventually(() => woke, 5_000, 'the waiter to wake');
      await waiting;
      expect(await store.readEvents(id, before, 10)).toEqual([e]);
      // Nothing new: only the abort ends the wait.
      const ac2 = new AbortController();
      const t0 = Date.now();
      setTimeout(() => ac2.abort(), 150);
      await store.waitForEvents(id, e!.seq, ac2.signal);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
      // Events already there: no wait at all.
      await store.waitForEvents(id, before, new AbortController().signal);
      ac.abort();
    });

    it('stores images with their commits, by id, and returns them with their type', async () => {
      const id = await newJob(store, 3);
      const data = new Uint8Array(300_000).map((_, i) => i % 251);
      await store.commitImage(id, 0, { ...info(id, 0), sizeBytes: data.length }, { data, mimeType: 'image/png' });
      await store.commitImage(id, 1, { ...info(id, 1), sizeBytes: 3, mimeType: 'image/webp' }, { data: new Uint8Array([1, 2, 3]), mimeType: 'image/webp' });
      // A failed image has no bytes.
      await store.commitImage(id, 2, info(id, 2, false));
      const got = await store.getImage(`${id}/0`);
      expect(got?.mimeType).toBe('image/png');
      expect(Buffer.from(got!.data).equals(Buffer.from(data))).toBe(true);
      expect(await store.getImage(`${id}/1`)).toEqual({ data: expect.anything(), mimeType: 'image/webp' });
      expect(Buffer.from((await store.getImage(`${id}/1`))!.data)).toEqual(Buffer.from([1, 2, 3]));
      expect(await store.getImage(`${id}/2`)).toBeUndefined();
      expect(await store.getImage(`${id}/9`)).toBeUndefined();
    });

    it('reports itself healthy while its backing service is up', () => {
      expect(store.healthy()).toBe(true);
    });
  });
}
