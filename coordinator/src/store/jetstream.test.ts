// The Store contract against the JetStream store on a real nats-server, plus
// what only JetStream promises: leases that expire in the server, several
// coordinators on one NATS, and riding out a NATS restart or stall.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError, createLogger } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import { eventually, startNatsServer, type NatsServer } from '@latentfarm/testkit';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox } from '@nats-io/transport-node';
import { JetStreamStore, type JetStreamStoreOptions } from './jetstream.js';
import { JetStreamCounter, tasksInQueue } from './jetstream-counts.js';
import { Names } from './jetstream-names.js';
import { NatsRequests } from './nats-requests.js';
import { nextBySubject } from './nats-pull.js';
import { TASK_BLOCK, decodeBlock, type BlockLease } from './jetstream-task-blocks.js';
import { describeHistoryContract } from './store-history.contract.js';
import { describeStoreContract, info, leaseAll, newJob } from './store.contract.js';
import type { StoredLease } from './store.js';

let nats: NatsServer;
beforeAll(async () => { nats = await startNatsServer(); });
afterAll(async () => nats?.stop());

const options = (o: Partial<JetStreamStoreOptions> = {}): JetStreamStoreOptions => ({
  url: nats.url, prefix: `t${randomBytes(4).toString('hex')}`, replicas: 1, leaseTtlMs: 30_000, timeoutMs: 2_000,
  log: createLogger('test', 'silent'), ...o,
});

describeStoreContract('jetstream', async () => {
  const o = options();
  const store = await JetStreamStore.connect(o);
  const nc = await connect({ servers: nats.url });
  const names = new Names(o.prefix);
  const jsm = await jetstreamManager(nc);
  // Every task in the job's task messages (a message holds a block of them), read one message at a time.
  const storedTasks = async (id: string): Promise<number> => {
    let tasks = 0;
    for (let m = await nextBySubject(jsm, names.tasksStream, 1, names.task(id)); m !== null; m = await nextBySubject(jsm, names.tasksStream, m.seq + 1, names.task(id))) {
      tasks += decodeBlock(m.json<unknown>()).length;
    }
    return tasks;
  };
  return { store, storedTasks, close: async () => { await nc.close(); await store.close(); } };
});

describeHistoryContract('jetstream', async () => {
  const store = await JetStreamStore.connect(options());
  return { store, close: () => store.close() };
});

describe('JetStream store: what only a shared, durable store can do', () => {
  it('keeps a small image inside its commit event and a large one in the object store; both read back and expire with their job', async () => {
    const o = options();
    const store = await JetStreamStore.connect(o);
    const nc = await connect({ servers: nats.url });
    try {
      const names = new Names(o.prefix);
      const jsm = await jetstreamManager(nc);
      const objectMessages = async () => (await jsm.streams.info(names.imagesStream)).state.messages;
      const id = await newJob(store, 3);
      const small = new Uint8Array(2_000).map((_, i) => (i * 7) % 256);
      const large = new Uint8Array(20_000).map((_, i) => (i * 13) % 256);
      await store.commitImage(id, 0, { ...info(id, 0), sizeBytes: small.length }, { data: small, mimeType: 'image/png' });
      expect(await objectMessages()).toBe(0);
      await store.commitImage(id, 1, { ...info(id, 1), sizeBytes: large.length }, { data: large, mimeType: 'image/png' });
      // The large one: its chunk and its meta.
      expect(await objectMessages()).toBe(2);
      expect(Buffer.from((await store.getImage(`${id}/0`))!.data)).toEqual(Buffer.from(small));
      expect(Buffer.from((await store.getImage(`${id}/1`))!.data)).toEqual(Buffer.from(large));
      // Event reads carry no image bytes, whichever way the image was kept.
      const events = await store.readEvents(id, 0, 10);
      expect(events.map((e) => Object.keys(e).sort())).toEqual([['info', 'kind', 'seq', 'unixMs'], ['info', 'kind', 'seq', 'unixMs']]);
      // A commit that loses stores nothing: its small image was never anywhere else.
      expect(await store.commitImage(id, 0, info(id, 0), { data: new Uint8Array([1]), mimeType: 'image/png' })).toBeUndefined();
      expect(Buffer.from((await store.getImage(`${id}/0`))!.data)).toEqual(Buffer.from(small));
      await store.updateJob(id, (j) => ({ ...j, state: JobState.SUCCEEDED, finishedUnixMs: Date.now() }));
      expect(await store.expireToFit(0, 10)).toEqual([id]);
      expect(await store.getImage(`${id}/0`)).toBeUndefined();
      expect(await store.getImage(`${id}/1`)).toBeUndefined();
    } finally {
      await nc.close();
      await store.close();
    }
  });

  it('counts images kept inside their events for --retain-bytes', async () => {
    const store = await JetStreamStore.connect(options());
    try {
      const id = await newJob(store, 1);
      const small = new Uint8Array(4_000).map((_, i) => (i * 7) % 256);
      await store.commitImage(id, 0, { ...info(id, 0), sizeBytes: small.length }, { data: small, mimeType: 'image/png' });
      await store.updateJob(id, (j) => ({ ...j, state: JobState.SUCCEEDED, finishedUnixMs: Date.now() }));
      // The object store is empty: only the event's bytes (the image in base64, and the info) exceed the cap.
      expect(await store.expireToFit(20_000, 10)).toEqual([]);
      expect(await store.expireToFit(small.length, 10)).toEqual([id]);
      expect(await store.getImage(`${id}/0`)).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('queues a job\'s tasks in blocks: each leased on its own, a block acked once all its tasks are, the rest of one moved on', async () => {
    const o = options();
    const store = await JetStreamStore.connect(o);
    const nc = await connect({ servers: nats.url });
    const requests = new NatsRequests(nc, 2_000);
    const names = new Names(o.prefix);
    const messages = (id: string) => tasksInQueue(requests, names, id);
    try {
      const id = await newJob(store, TASK_BLOCK + 2);
      expect(await messages(id)).toBe(2);
      // Three asked: the first block's other tasks move on to a message of their own.
      const first = await store.leaseTasks(id, 3);
      expect(first.map((l) => l.task.index)).toEqual([0, 1, 2]);
      expect(await messages(id)).toBe(3);
      await store.completeLease(first[0]!);
      await store.completeLease(first[1]!);
      await store.completeLease(first[0]!);
      await nc.flush();
      expect(await messages(id), 'a block with a task still leased stays').toBe(3);
      await store.completeLease(first[2]!);
      await eventually(async () => (await messages(id)) === 2, 10_000, 'the block to be acked once its last task is');
      const rest = await leaseAll(store, id, TASK_BLOCK - 1);
      expect(rest.map((l) => l.task.index).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9]);
      expect(new Set([...first, ...rest].map((l) => l.epoch)).size).toBe(TASK_BLOCK + 2);
      expect(await store.leaseTasks(id, 10)).toEqual([]);
    } finally {
      requests.close();
      await nc.close();
      await store.close();
    }
  });

  it('gives a dead coordinator\'s block back whole after the lease TTL: its open tasks and its finished ones', async () => {
    // The finished ones come back too (their message was never acked); in the farm their commits are fenced.
    const o = options({ leaseTtlMs: 1_000 });
    const dead = await JetStreamStore.connect(o);
    const next = await JetStreamStore.connect({ ...o });
    try {
      const id = await newJob(dead, TASK_BLOCK);
      const held = await leaseAll(dead, id, TASK_BLOCK);
      expect(held).toHaveLength(TASK_BLOCK);
      for (const l of held.slice(0, 3)) await dead.completeLease(l);
      await dead.close();
      const back = await leaseAll(next, id, TASK_BLOCK, 20_000);
      expect(back.map((l) => l.task.index).sort((a, b) => a - b)).toEqual(held.map((l) => l.task.index).sort((a, b) => a - b));
      expect(back.some((l) => held.some((h) => h.epoch === l.epoch))).toBe(false);
    } finally {
      await dead.close();
      await next.close();
    }
  });

  it('gives a lease that is not extended back to the queue after the lease TTL, with a new epoch', async () => {
    // The TTL leaves the extender (every 200 ms) a wide margin on a loaded machine.
    const store = await JetStreamStore.connect(options({ leaseTtlMs: 2_000 }));
    try {
      // A lease expires with its task message: the forgotten task is alone in the job's second message.
      const id = await newJob(store, TASK_BLOCK + 1);
      const leases = await leaseAll(store, id, TASK_BLOCK + 1);
      const [kept, forgotten] = [leases[0], leases[TASK_BLOCK]];
      const keep = setInterval(() => store.extendLease(kept!), 200);
      try {
        // The forgotten task comes back after one TTL; left alone again, once more after a second. Both leases
        // started together, so by the second return the kept one has been past its TTL for a whole TTL: had
        // the extensions not held it, the server would have handed it out by then (no guessed pause needed).
        const seen: StoredLease[] = [];
        await eventually(async () => {
          seen.push(...(await store.leaseTasks(id, 2)));
          return seen.length >= 2;
        }, 20_000, 'the forgotten task to come back twice');
        expect(seen.map((l) => l.task.index)).toEqual([forgotten!.task.index, forgotten!.task.index]);
        const epochs = new Set([forgotten!.epoch, ...seen.map((l) => l.epoch)]);
        expect(epochs.size).toBe(3);
        await store.completeLease(seen[1]!);
        await store.completeLease(kept!);
      } finally {
        clearInterval(keep);
      }
    } finally {
      await store.close();
    }
  });

  it('shares one farm between two coordinators: jobs, leases, events and counts', async () => {
    const o = options();
    const a = await JetStreamStore.connect(o);
    const b = await JetStreamStore.connect({ ...o });
    try {
      const seenByB: string[] = [];
      b.onJobChange((j) => seenByB.push(`${j.id}:${j.state}`));
      const id = await newJob(a, 40);
      await eventually(() => seenByB.includes(`${id}:${JobState.QUEUED}`), 5_000, 'B to see the job');
      expect(await b.getJob(id)).toMatchObject({ id, total: 40 });
      // Both lease at once: every task goes to exactly one of them.
      const leased = await Promise.all([leaseAll(a, id, 20, 3_000), leaseAll(b, id, 20, 3_000)]);
      const indexes = leased.flat().map((l) => l.task.index).sort((x, y) => x - y);
      expect(indexes).toEqual(Array.from({ length: 40 }, (_, i) => i));
      // A commit through either is final for both.
      const e = await a.commitImage(id, 7, info(id, 7));
      expect(await b.commitImage(id, 7, info(id, 7))).toBeUndefined();
      expect(await b.readEvents(id, 0, 10)).toEqual([e]);
      expect(await b.counts(id)).toEqual({ succeeded: 1, failed: 0 });
      await a.updateJob(id, (j) => ({ ...j, state: JobState.CANCELLED }));
      await eventually(() => seenByB.includes(`${id}:${JobState.CANCELLED}`), 5_000, 'B to see the cancel');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('counts without any consumer: exact from two coordinators as commits race, a lost failure and a stray dead letter not counted', async () => {
    // The count ends jobs, so it must answer whenever the streams do; a consumer's info is answered by the
    // consumer's own leader, which on a cluster with a node just killed may answer nothing for a long while.
    const o = options();
    const a = await JetStreamStore.connect(o);
    const b = await JetStreamStore.connect({ ...o });
    const nc = await connect({ servers: nats.url });
    try {
      const total = 60;
      const id = await newJob(a, total);
      const [leasedA, leasedB] = await Promise.all([leaseAll(a, id, total / 2, 3_000), leaseAll(b, id, total / 2, 3_000)]);
      // Image 0 failed on B: a dead letter that the farm records after the commit.
      expect(await b.commitImage(id, 0, info(id, 0, false))).toBeDefined();
      await b.deadLetter(leasedB[0]!.task, 'boom');
      // Image 1: A's success and B's failure race; exactly one wins, and the counts follow the winner.
      const raced = await Promise.all([a.commitImage(id, 1, info(id, 1)), b.commitImage(id, 1, info(id, 1, false))]);
      expect(raced.filter((e) => e !== undefined)).toHaveLength(1);
      const image1Failed = raced[0] === undefined;
      // Image 2: a dead letter without a committed failure (its coordinator died before the commit) is no failure.
      await a.deadLetter({ ...leasedA[0]!.task, index: 2 }, 'died before its commit');
      expect(await a.counts(id)).toEqual({ succeeded: image1Failed ? 0 : 1, failed: image1Failed ? 2 : 1 });
      // The rest, committed from both at once (image 3 failed), with the counts read by both meanwhile.
      const rest = Array.from({ length: total - 2 }, (_, i) => i + 2);
      const reads: Promise<unknown>[] = [];
      await Promise.all(rest.map(async (i) => {
        await (i % 2 === 0 ? a : b).commitImage(id, i, info(id, i, i !== 3));
        if (i % 10 === 0) reads.push(a.counts(id), b.counts(id));
      }));
      await Promise.all(reads);
      const failed = image1Failed ? 3 : 2;
      const want = { succeeded: total - failed, failed };
      expect(await a.counts(id)).toEqual(want);
      expect(await b.counts(id)).toEqual(want);
      // A coordinator that never saw the job counts the same.
      const c = await JetStreamStore.connect({ ...o });
      try {
        expect(await c.counts(id)).toEqual(want);
      } finally {
        await c.close();
      }
      const jsm = await jetstreamManager(nc);
      const consumers: string[] = [];
      for await (const ci of jsm.consumers.list(`${o.prefix}_EVENTS`)) consumers.push(ci.name);
      expect(consumers, 'consumers on the event stream after counting').toEqual([]);
    } finally {
      await nc.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('goes unhealthy while NATS is stalled, fails fast instead of hanging, and recovers by itself', async () => {
    const own = await startNatsServer();
    // A long request timeout: a call that waited for NATS instead of failing at once would show it plainly.
    const timeoutMs = 30_000;
    const store = await JetStreamStore.connect(options({ url: own.url, timeoutMs }));
    const changes: boolean[] = [];
    store.onHealthChange((ok) => changes.push(ok));
    try {
      const id = await newJob(store, 3);
      own.pause();
      await eventually(() => !store.healthy(), 15_000, 'the store to notice');
      // Both fail while NATS is still stalled, without waiting out their timeout.
      let timer: NodeJS.Timeout | undefined;
      const waitedOut = new Promise<'waited'>((resolve) => { timer = setTimeout(() => resolve('waited'), timeoutMs / 2); });
      const calls = Promise.allSettled([store.getJob(id), store.commitImage(id, 0, info(id, 0))]);
      const outcome = await Promise.race([calls, waitedOut]).finally(() => clearTimeout(timer));
      expect(outcome).not.toBe('waited');
      for (const r of await calls) {
        expect(r.status).toBe('rejected');
        expect(r.status === 'rejected' && r.reason).toBeInstanceOf(UnavailableError);
      }
      own.resume();
      await eventually(() => store.healthy(), 20_000, 'the store to recover');
      expect(changes).toEqual([false, true]);
      expect(await store.getJob(id)).toMatchObject({ id });
      expect(await store.commitImage(id, 0, info(id, 0))).toBeDefined();
    } finally {
      await store.close();
      await own.stop();
    }
  });

  it('keeps jobs, tasks and events across a NATS restart', async () => {
    const own = await startNatsServer();
    const o = options({ url: own.url });
    const store = await JetStreamStore.connect(o);
    const other = await JetStreamStore.connect({ ...o });
    const seenByOther: string[] = [];
    other.onJobChange((j) => seenByOther.push(`${j.id}:${j.state}`));
    try {
      const id = await newJob(store, 5);
      const e = await store.commitImage(id, 0, info(id, 0));
      const held = await leaseAll(store, id, 2);
      await own.restart();
      await eventually(() => store.healthy(), 20_000, 'the store to reconnect');
      // Leases survive the restart: completing them works, and every task not held is still queued. A held task
      // may be delivered again (at least once, as the farm's commit fence expects): a server killed with SIGKILL
      // may not have written its consumer's latest deliveries yet, and a task consumer the store finds stuck is
      // recreated, which delivers every task still in the stream. Seen once, in three full suites run at once.
      await Promise.all(held.map((l) => store.completeLease(l)));
      const notHeld = [0, 1, 2, 3, 4].filter((i) => !held.some((l) => l.task.index === i));
      const leasedAgain = new Set<number>();
      await eventually(async () => {
        try {
          for (const l of await leaseAll(store, id, 5, 1_000)) {
            leasedAgain.add(l.task.index);
            await store.completeLease(l);
          }
        } catch {
          // NATS is still coming back.
        }
        return notHeld.every((i) => leasedAgain.has(i));
      }, 20_000, 'the remaining tasks');
      expect(await store.readEvents(id, 0, 10)).toEqual([e]);
      expect(await store.commitImage(id, 0, info(id, 0))).toBeUndefined();
      expect((await store.getJob(id))?.total).toBe(5);
      // The other coordinator's job watcher picked up where it was.
      await eventually(() => other.healthy(), 20_000, 'the other store to reconnect');
      await store.updateJob(id, (j) => ({ ...j, state: JobState.RUNNING }));
      await eventually(() => seenByOther.includes(`${id}:${JobState.RUNNING}`), 15_000, 'the change to reach the other coordinator');
    } finally {
      await Promise.all([store.close(), other.close()]);
      await own.stop();
    }
  });

  it('still hands out a job\'s last task after a pull that was in flight went unanswered (nats-server#5305)', async () => {
    // nats-server before 2.10.14, when it cannot hand a redelivered task to a pull request (its requester has gone:
    // in the e2e, a pull the coordinator sent just before NATS stalled, which the server acts on after it resumes),
    // steps the consumer back one message. The last task it handed out is then handed out again as new, and its
    // count of waiting tasks, the count a no_wait pull consults, ends one short: the job's last task is never
    // leased again. Here every step of that is driven on purpose, on a real server.
    const o = options();
    const store = await JetStreamStore.connect(o);
    const nc = await connect({ servers: nats.url });
    try {
      const id = await newJob(store, 2);
      // Both tasks start in one message; a nak hands out a message again, so first each is moved to one of its own
      // (leased alone, the other moves on; handed back, the leased one does).
      await store.returnLease((await store.leaseTasks(id, 1))[0]!, false);
      const [first] = await store.leaseTasks(id, 1);
      expect(first).toBeDefined();
      // The server's handling of the next steps races with its own delivery loop, so they repeat until the
      // consumer has visibly stepped back: the task comes again with the same epoch (delivery count 1 again).
      let held = first!;
      let again: StoredLease | undefined;
      for (let round = 0; round < 50 && again === undefined; round++) {
        // The task is handed back: the server queues it for redelivery. (A request on the same connection
        // after it gives the server the hand-back first.)
        await store.returnLease(held, false);
        await store.getJob(id);
        // A pull request whose requester is gone: nobody listens on its reply subject.
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${o.prefix}_TASKS.task_${id}`, JSON.stringify({ batch: 1, no_wait: true }), { reply: createInbox() });
        await nc.flush();
        const [next] = await store.leaseTasks(id, 1);
        expect(next?.task.index).toBe(first!.task.index);
        held = next!;
        if (held.epoch === first!.epoch) again = held;
      }
      expect(again, 'the server never stepped back; the fault was not reproduced').toBeDefined();
      await store.completeLease(again!);
      // One task is left and nobody holds it: the next lease gets it.
      const last = await store.leaseTasks(id, 1);
      expect(last.map((l) => l.task.index)).toEqual([1 - first!.task.index]);
    } finally {
      await nc.close();
      await store.close();
    }
  });

  it('brings a count near the job\'s end up to date from the events since the last one, not by a pass over every image', async () => {
    // A full count costs the server a pass over every image subject of the job (seconds at a million images);
    // done for each commit round of the tail, it kept the server busy for the whole tail of a big job.
    const o = options();
    const a = await JetStreamStore.connect(o);
    const b = await JetStreamStore.connect({ ...o });
    const nc = await connect({ servers: nats.url });
    const names = new Names(o.prefix);
    let fullCounts = 0;
    const requests = new class extends NatsRequests {
      override jsRequest<T>(subject: string, body: unknown): Promise<T> {
        if (subject === `$JS.API.STREAM.INFO.${names.eventsStream}`) fullCounts++;
        return super.jsRequest<T>(subject, body);
      }
    }(nc, 2_000);
    // No rescan by time: what is counted here is when the counter chooses a full count over catching up.
    const counter = new JetStreamCounter(requests, await jetstreamManager(nc), names, 3_600_000);
    try {
      // Whole task messages (88 of TASK_BLOCK = 8): the estimate far from the end counts whole messages acked.
      const total = 704;
      const id = await newJob(a, total);
      const leases = await leaseAll(a, id, total, 10_000);
      expect(leases).toHaveLength(total);
      let next = 0;
      // As the farm does: a failure's dead letter, then the commit, then the ack; from either coordinator.
      const commit = async (n: number, failed: (i: number) => boolean = () => false) => {
        const batch = leases.slice(next, next + n);
        next += n;
        await Promise.all(batch.map(async (l, k) => {
          const s = k % 2 === 0 ? a : b;
          const i = l.task.index;
          if (failed(i)) await s.deadLetter(l.task, 'boom');
          expect(await s.commitImage(id, i, info(id, i, !failed(i)))).toBeDefined();
          await s.completeLease(l);
        }));
        // Acks reach the server a moment after completeLease: the counter reads how many task messages are left
        // (a message is acked once all its tasks are).
        const messagesLeft = new Set(leases.slice(next).map((l) => (l as BlockLease).delivery)).size;
        await eventually(async () => (await tasksInQueue(requests, names, id)) === messagesLeft, 10_000, 'the acks');
      };
      const failedOnes = new Set<number>();
      const failEvery = (k: number) => (i: number) => { const f = i % k === 0; if (f) failedOnes.add(i); return f; };
      const want = () => ({ succeeded: next - failedOnes.size, failed: failedOnes.size });

      await commit(5);
      expect(await counter.count(id, total)).toEqual(want());
      expect(fullCounts, 'the first count is a full one').toBe(1);
      // Far from the end: an estimate from the acked task messages (all of whose tasks are committed), no count.
      await commit(379);
      expect((await counter.count(id, total)).succeeded).toBe(384);
      expect(fullCounts).toBe(1);
      // Into the tail with more commits since the last count than a catch-up reads: a full count.
      await commit(150, failEvery(97));
      expect(await counter.count(id, total)).toEqual(want());
      expect(fullCounts).toBe(2);
      // Then each count reads only what was committed since, failures included.
      for (const n of [1, 20, 0, 100, 49]) {
        await commit(n, failEvery(13));
        expect(await counter.count(id, total)).toEqual(want());
      }
      expect(next).toBe(total);
      expect(fullCounts, 'full counts in the tail').toBe(2);
    } finally {
      requests.close();
      await nc.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('counts a large job\'s queued tasks after the work queue has removed its first message block', async () => {
    // nats-server 2.9 lists no subject for a literal filter once the subject's first block is gone (about 4 MB);
    // read as "no tasks left", every count of such a job was an exact one, a pass over every image subject.
    const o = options();
    const store = await JetStreamStore.connect(o);
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const names = new Names(o.prefix);
      const jobId = 'big';
      await jsm.consumers.add(names.tasksStream, { durable_name: 'drain', filter_subject: names.task(jobId), ack_policy: AckPolicy.Explicit });
      const task = new Uint8Array(400);
      for (let sent = 0; sent < 16_000; sent += 1_000) {
        await Promise.all(Array.from({ length: 1_000 }, () => js.publish(names.task(jobId), task)));
      }
      const drain = await js.consumers.get(names.tasksStream, 'drain');
      for (let acked = 0; acked < 13_000;) {
        for await (const m of await drain.fetch({ max_messages: 1_000, expires: 5_000 })) {
          await m.ackAck();
          acked++;
        }
      }
      const requests = new NatsRequests(nc, 2_000);
      expect(await tasksInQueue(requests, names, jobId)).toBe(3_000);
      requests.close();
    } finally {
      await nc.close();
      await store.close();
    }
  });
});
