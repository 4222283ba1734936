// The JetStream store: tasks, job state, events, images, idempotency keys and
// dead letters live in NATS, so any number of coordinators share one farm and
// a coordinator that dies loses nothing. The layout and the reasons for it are
// in coordinator/README.md ("JetStream store"); in short:
//
//   <P>_TASKS   work-queue stream, <p>.task.<job>, one message per waiting image;
//               one durable pull consumer per job (task_<job>), ack_wait = lease TTL
//   <P>_EVENTS  stream, <p>.ev.<job>.i.<index> (committed image, exactly once per
//               index) and <p>.ev.<job>.s.<fence> (state changes)
//   <P>_JOBS    KV, job id → JobRecord (compare-and-set on revision)
//   <P>_KEYS    KV, sha256(idempotency key) → job id (KV create)
//   <P>_DEAD    KV, <job>.<index> → why the image was given up
//   <P>_IMAGES  Object Store, image id → bytes
import { createHash } from 'node:crypto';
import { LatentfarmError, UnavailableError, backoffMs, sleep, type Logger } from '@latentfarm/common';
import { FinishReason, JobState, type ImageInfo } from '@latentfarm/proto';
import {
  AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager,
  type JetStreamManager, type PubAck,
} from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { JetStreamCounter, type Counts } from './jetstream-counts.js';
import { JetStreamExpiry } from './jetstream-expiry.js';
import { BlockDelivery, BlockLease, TASK_BLOCK, blockEpoch, decodeBlock } from './jetstream-task-blocks.js';
import { parseImageId } from './image-id.js';
import { comesAfter, finishedAt, isFinishedState, matchesFilter } from './job-query.js';
import { Names } from './jetstream-names.js';
import { NatsRequests } from './nats-requests.js';
import { ackInfo, nextBySubject, pullNow } from './nats-pull.js';
import { uniqueId } from './unique-id.js';
import type {
  FarmEvent, JobCursor, JobFilter, JobRecord, JobWriter, NewEvent, Store, StoredImage, StoredLease, TaskSource, TaskSpec,
} from './store.js';

export interface JetStreamStoreOptions {
  /** NATS server URL(s), comma-separated. */
  url: string;
  /** Names every stream, bucket and subject, so farms (and tests) can share a server. */
  prefix: string;
  /** Replicas of every stream and bucket. */
  replicas: number;
  /** ack_wait of task consumers: a lease not extended for this long goes back to the queue. */
  leaseTtlMs: number;
  /** Timeout of one NATS request. */
  timeoutMs: number;
  log: Logger;
}

/** Expected-last-sequence and KV-create conflicts both answer with this API code. */
const WRONG_LAST_SEQUENCE = 10071;
const CONSUMER_NOT_FOUND = 10014;
const NS_PER_MS = 1_000_000;
/** Task messages published at once when a job is created. */
const PUBLISH_WINDOW = 256;
/** Image chunk size, as the object store's own put() uses. */
const IMAGE_CHUNK_BYTES = 128 * 1024;
/**
 * Images up to this size travel inside their commit event (base64) instead of the object store: one stored message
 * per image instead of three (chunk, meta, event): on the JetStream preset of `npm run bench:store`, a median 9 %
 * more images/s over seven interleaved pairs, and 0.89 → 0.83 ms of CPU per image. Larger ones go to the object
 * store, so event reads (every watcher's, the counts') never carry big images.
 */
const INLINE_IMAGE_BYTES = 8 * 1024;
/** A claimed idempotency key whose job never appeared is taken over after this long (its coordinator died mid-submit). */
const STALE_CLAIM_MS = 30_000;
/** Cached event cursors: idle ones are deleted after this long (the server drops them after twice that). */
const CURSOR_IDLE_MS = 30_000;
/** An ended job's cursor idle this long is deleted: its watcher has read the end or gone. */
const ENDED_CURSOR_IDLE_MS = 1_000;
const MAX_CURSORS_PER_JOB = 8;
const PULL_TIMEOUT_MS = 1_000;
/** Job records read at once while a listing or a sweep walks the jobs. */
const READ_WINDOW = 32;
/**
 * A task consumer whose pulls deliver nothing this long while tasks wait counts as stuck. Right after a server
 * restart pulls go unanswered for a few seconds while JetStream loads its consumers; that is not it.
 */
const STUCK_AFTER_MS = 10_000;
/** A job whose pulls keep answering "no messages" has that answer checked against the stream at most this often. */
const EMPTY_CHECK_MS = 5_000;
/** How long waitForEvents waits without a sign of new events before it lets the caller look again. */
const WAIT_POLL_MS = 2_000;
const TRANSIENT = new Set(['TimeoutError', 'ClosedConnectionError', 'ConnectionError', 'DrainingConnectionError', 'RequestError', 'NoRespondersError', 'JetStreamNotEnabled']);

const isApiError = (err: unknown, code: number): boolean => err instanceof JetStreamApiError && err.code === code;
const isTransient = (err: unknown): boolean => err instanceof Error && TRANSIENT.has(err.name);
const VALID_ID = /^[A-Za-z0-9_-]{1,200}$/;
const enc = new TextEncoder();
const dec = new TextDecoder();
const json = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v));

interface EventCursor {
  readonly jobId: string;
  readonly consumer: string;
  /** Sequence of the last event handed out through this cursor. */
  position: number;
  lastUsedMs: number;
}

type EventBody =
  | { kind: 'state'; unixMs: number; state: JobState; counts: { total: number; succeeded: number; failed: number; cancelled: number; running: number }; reason: string }
  | { kind: 'image'; unixMs: number; info: ImageInfo; bytes?: string };

export class JetStreamStore implements Store {
  readonly kind = 'jetstream';
  private readonly n: Names;
  private isHealthy = true;
  private closed = false;
  private readonly jobListeners: ((job: JobRecord) => void)[] = [];
  private readonly expiryListeners: ((jobId: string) => void)[] = [];
  private readonly taskListeners: ((jobId: string) => void)[] = [];
  private readonly healthListeners: ((healthy: boolean) => void)[] = [];
  /** Newest job revision handed to listeners, so a slow watcher never rolls a job back. */
  private readonly seenRevision = new Map<string, number>();
  /** Jobs whose tasks were dropped or that ended: nothing of theirs is queued again. */
  private readonly ended = new Set<string>();
  /** Jobs whose task consumer is gone (the job ended): leasing from them returns nothing at once. */
  private readonly noConsumer = new Set<string>();
  /** Per job: since when its pulls have gone unanswered while its consumer says messages wait (see checkTaskConsumer). */
  private readonly unansweredSince = new Map<string, number>();
  /** Per job: since when its pulls have answered "no messages" while tasks wait (see pullTasks). */
  private readonly hiddenSince = new Map<string, number>();
  /** Per job: when an answer of "no messages" was last checked against the stream (see tasksHidden). */
  private readonly emptyCheckedAt = new Map<string, number>();
  private readonly totals = new Map<string, number>();
  /** Per job, the tasks leased through this store and not yet released (see BlockLease). */
  private readonly leasedHere = new Map<string, number>();
  /** Counts that can no longer change (every image committed, or the job ended). */
  private readonly finalCounts = new Map<string, Counts>();
  private readonly cursors = new Map<string, EventCursor[]>();
  private readonly eventSubs = new Map<string, { sub: Subscription; wake: Set<() => void> }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly counter: JetStreamCounter;
  private readonly requests: NatsRequests;
  private readonly expiry: JetStreamExpiry;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly jobsKv: KV,
    private readonly keysKv: KV,
    private readonly deadKv: KV,
    private readonly images: ObjectStore,
    private readonly o: JetStreamStoreOptions,
  ) {
    this.n = new Names(o.prefix);
    this.requests = new NatsRequests(nc, o.timeoutMs);
    this.counter = new JetStreamCounter(this.requests, jsm, this.n);
    this.expiry = new JetStreamExpiry({ jsm, jobsKv, keysKv, images, n: this.n, readEvents: (id, after, limit) => this.readEvents(id, after, limit) });
  }

  /** Connects (waiting for NATS if it is not up yet), makes the streams and buckets, and starts watching jobs. */
  static async connect(o: JetStreamStoreOptions): Promise<JetStreamStore> {
    let attempt = 0;
    const nc = await connect({
      servers: o.url.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      name: 'latentfarm-coordinator',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      // Exponential backoff with jitter between reconnect attempts; the attempt count resets on success.
      reconnectDelayHandler: () => backoffMs(attempt++, 100, 2_000),
      timeout: Math.min(o.timeoutMs, 5_000),
      // A server that stops answering (paused, partitioned) is noticed within about three pings.
      pingInterval: 1_000,
      maxPingOut: 3,
      // Every request would otherwise build an Error up front for its stack (a tenth of the coordinator's CPU at
      // 1,000 images/s); our errors name the operation that failed instead (see op()).
      noAsyncTraces: true,
    });
    const js = jetstream(nc, { timeout: o.timeoutMs });
    const n = new Names(o.prefix);
    const replicas = o.replicas;
    // JetStream may still be starting (a restarted server recovers its streams first): keep trying.
    const setup = async () => {
      const jsm = await jetstreamManager(nc, { timeout: o.timeoutMs });
      await ensureStream(jsm, {
        name: n.tasksStream, subjects: [`${n.p}.task.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
        num_replicas: replicas, duplicate_window: 120_000 * NS_PER_MS,
      });
      await ensureStream(jsm, {
        name: n.eventsStream, subjects: [`${n.p}.ev.>`], retention: RetentionPolicy.Limits, storage: StorageType.File,
        num_replicas: replicas, discard: DiscardPolicy.Old, duplicate_window: 120_000 * NS_PER_MS,
      });
      const kvm = new Kvm(js);
      const kvOpts = { history: 1, replicas, storage: StorageType.File, timeout: o.timeoutMs };
      return {
        jsm,
        jobsKv: await kvm.create(n.jobsBucket, kvOpts),
        keysKv: await kvm.create(n.keysBucket, kvOpts),
        deadKv: await kvm.create(n.deadBucket, kvOpts),
        images: await new Objm(js).create(n.imagesBucket, { replicas, storage: StorageType.File }),
      };
    };
    const untilReady = async <T>(fn: () => Promise<T>): Promise<T> => {
      for (let i = 0; ; i++) {
        try {
          return await fn();
        } catch (err) {
          if (!isTransient(err)) throw err;
          o.log.warn({ err: (err as Error).message }, 'JetStream not ready yet; retrying');
          await sleep(backoffMs(i, 200, 2_000));
        }
      }
    };
    const { jsm, jobsKv, keysKv, deadKv, images } = await untilReady(setup);
    const store = new JetStreamStore(nc, jsm, jobsKv, keysKv, deadKv, images, o);
    store.watchStatus(() => { attempt = 0; });
    // The watch is an ephemeral consumer: on a cluster with a node down its creation can time out (it may be placed
    // on that node), which must not fail the start.
    await untilReady(() => store.watchJobs());
    const sweep = setInterval(() => store.sweepCursors(), ENDED_CURSOR_IDLE_MS);
    sweep.unref();
    store.timers.push(sweep);
    o.log.info({ nats: nc.getServer(), prefix: o.prefix }, 'JetStream store ready');
    return store;
  }

  // ---- health

  private watchStatus(onReconnect: () => void): void {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'staleConnection') this.setHealthy(false);
        else if (s.type === 'reconnect') {
          onReconnect();
          void this.probeUntilReady();
        }
      }
    })().catch((err: unknown) => this.o.log.error({ err }, 'NATS status watch ended'));
  }

  /** After a reconnect JetStream may need a moment (a restarted server recovers its streams first). */
  private async probeUntilReady(): Promise<void> {
    for (let attempt = 0; !this.closed && !this.nc.isClosed(); attempt++) {
      try {
        await this.jsm.getAccountInfo();
        if (!this.nc.isClosed()) this.setHealthy(true);
        return;
      } catch {
        await sleep(backoffMs(attempt, 100, 1_000));
      }
    }
  }

  private setHealthy(ok: boolean): void {
    if (this.isHealthy === ok) return;
    this.isHealthy = ok;
    this.o.log.warn({ healthy: ok }, ok ? 'NATS reachable again' : 'NATS unreachable');
    for (const l of this.healthListeners) l(ok);
  }

  healthy(): boolean {
    return this.isHealthy;
  }

  onHealthChange(listener: (healthy: boolean) => void): void {
    this.healthListeners.push(listener);
  }

  /** Runs one store operation: fails fast while NATS is unreachable, and maps NATS failures to UnavailableError. */
  private async op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (!this.isHealthy) throw new UnavailableError(`the job store (NATS) is unreachable; ${what} failed, retry later`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof LatentfarmError || !isTransient(err)) throw err;
      throw new UnavailableError(`the job store (NATS) did not answer; ${what} failed, retry later`, { cause: err });
    }
  }

  /** Publishes with a message id, retrying transient failures: the id makes a retry of a stored message a no-op. */
  private async publish(subject: string, data: Uint8Array, msgID: string, lastSubjectSequence?: number): Promise<PubAck> {
    const deadline = Date.now() + this.o.timeoutMs * 2;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requests.jsPublish(subject, data, lastSubjectSequence === undefined ? { msgID } : { msgID, lastSubjectSequence });
      } catch (err) {
        if (!isTransient(err) || Date.now() > deadline || this.closed) throw err;
        await sleep(backoffMs(attempt, 50, 1_000));
      }
    }
  }

  // ---- jobs

  claimIdempotencyKey(key: string, jobId: string): Promise<string> {
    const k = createHash('sha256').update(key).digest('hex');
    return this.op('claiming the idempotency key', async () => {
      for (let round = 0; ; round++) {
        if (round >= 20) throw new UnavailableError('the idempotency key is contended; retry');
        try {
          await this.keysKv.create(k, json({ jobId, unixMs: Date.now() }));
          return jobId;
        } catch (err) {
          if (!isApiError(err, WRONG_LAST_SEQUENCE)) throw err;
        }
        const e = await this.keysKv.get(k);
        if (e === null || e.operation !== 'PUT') continue;
        const held = e.json<{ jobId: string; unixMs: number }>();
        if (held.jobId === jobId || Date.now() - held.unixMs < STALE_CLAIM_MS || (await this.jobsKv.get(held.jobId)) !== null) return held.jobId;
        // The coordinator that claimed the key died before creating its job: take the key over.
        try {
          await this.keysKv.update(k, json({ jobId, unixMs: Date.now() }), e.revision);
          this.o.log.warn({ job: jobId, stale: held.jobId }, 'took over an idempotency key whose job was never created');
          await this.jsm.streams.purge(this.n.tasksStream, { filter: this.n.task(held.jobId) }).catch(() => undefined);
          return jobId;
        } catch (err) {
          if (!isApiError(err, WRONG_LAST_SEQUENCE)) throw err;
        }
      }
    });
  }

  idempotencyKeyHolder(key: string): Promise<string | undefined> {
    const k = createHash('sha256').update(key).digest('hex');
    return this.op('reading the idempotency key', async () => {
      const e = await this.keysKv.get(k);
      if (e === null || e.operation !== 'PUT') return undefined;
      const held = e.json<{ jobId: string; unixMs: number }>();
      // A claim whose job never appeared and that claimIdempotencyKey would take over holds nothing.
      if (Date.now() - held.unixMs < STALE_CLAIM_MS || (await this.jobsKv.get(held.jobId)) !== null) return held.jobId;
      return undefined;
    });
  }

  async createJob(job: JobRecord, tasks: TaskSource): Promise<void> {
    const writer = this.beginJob(job.id);
    await writer.addTasks({ from: 0, to: tasks.total, task: (i) => tasks.task(i) });
    await writer.commit(job);
  }

  beginJob(jobId: string): JobWriter {
    // The job's consumer first: tasks wait on it from their publish on (it delivers all, so the order is free).
    let consumer: Promise<void> | undefined;
    const withConsumer = (): Promise<void> => (consumer ??= this.addTaskConsumer(jobId));
    return {
      jobId,
      addTasks: (tasks) => this.op('writing the job\'s tasks', async () => {
        await withConsumer();
        const window: Promise<PubAck>[] = [];
        for (let start = tasks.from; start < tasks.to; start += TASK_BLOCK) {
          const block: TaskSpec[] = [];
          for (let i = start; i < Math.min(tasks.to, start + TASK_BLOCK); i++) block.push(tasks.task(i));
          window.push(this.publishBlock(block));
          if (window.length === PUBLISH_WINDOW) await Promise.all(window.splice(0));
        }
        await Promise.all(window);
      }),
      // The record last: a job is visible only once all of its tasks are queued.
      commit: (job) => this.op('creating the job', async () => {
        await withConsumer();
        remember(this.totals, job.id, job.total);
        const rev = await this.jobsKv.create(job.id, json(job));
        this.emitJob(job, rev);
        for (const l of this.taskListeners) l(job.id);
      }),
      discard: () => this.op('discarding the job', async () => {
        if (consumer === undefined) return;
        await this.jsm.streams.purge(this.n.tasksStream, { filter: this.n.task(jobId) });
        await this.jsm.consumers.delete(this.n.tasksStream, this.n.taskConsumer(jobId)).catch(() => undefined);
      }),
    };
  }

  private async addTaskConsumer(jobId: string): Promise<void> {
    await this.jsm.consumers.add(this.n.tasksStream, {
      durable_name: this.n.taskConsumer(jobId), filter_subject: this.n.task(jobId), ack_policy: AckPolicy.Explicit,
      ack_wait: this.o.leaseTtlMs * NS_PER_MS, max_deliver: -1, max_ack_pending: 1_000_000, num_replicas: this.o.replicas,
      deliver_policy: DeliverPolicy.All,
    });
  }

  private publishTask(t: TaskSpec): Promise<PubAck> {
    return this.publish(this.n.task(t.jobId), json(t), `${t.jobId}/${t.index}/${t.attempts}/${t.losses}`);
  }

  /** Tasks of one job in one message; `tag` makes the message id of a block that is not a job's first of those tasks. */
  private publishBlock(tasks: readonly TaskSpec[], tag = ''): Promise<PubAck> {
    const first = tasks[0] as TaskSpec;
    return this.publish(this.n.task(first.jobId), json(tasks), `${first.jobId}/b/${first.index}/${tasks.length}${tag}`);
  }

  getJob(id: string): Promise<JobRecord | undefined> {
    if (!VALID_ID.test(id)) return Promise.resolve(undefined);
    return this.op('reading the job', async () => {
      const e = await this.jobsKv.get(id);
      return e === null || e.operation !== 'PUT' ? undefined : e.json<JobRecord>();
    });
  }

  listJobIds(): Promise<string[]> {
    return this.op('listing jobs', () => this.retried(async () => {
      const ids: string[] = [];
      for await (const k of await this.jobsKv.keys()) ids.push(k);
      // Job ids start with their creation time, so sorting them sorts by age.
      return ids.sort();
    }));
  }

  /**
   * Lists the keys (job ids begin with their creation time, so they sort by it) and reads records newest first
   * until the page is full: a page costs one key listing plus the records it passes over. Ids the cursor has
   * passed are skipped unread; the first record created before `createdAfterMs` ends the walk.
   */
  listJobs(filter: JobFilter, after: JobCursor | undefined, limit: number): Promise<JobRecord[]> {
    return this.op('listing jobs', async () => {
      const ids = (await this.listJobIds()).reverse().filter((id) => after === undefined || id <= after.id);
      const out: JobRecord[] = [];
      for (let i = 0; i < ids.length && out.length < limit; i += READ_WINDOW) {
        const jobs = await Promise.all(ids.slice(i, i + READ_WINDOW).map((id) => this.getJob(id)));
        for (const job of jobs) {
          if (job === undefined || !comesAfter(job, after)) continue;
          if (job.createdUnixMs < filter.createdAfterMs) return out;
          if (matchesFilter(job, filter)) out.push(job);
          if (out.length === limit) break;
        }
      }
      return out;
    });
  }

  /**
   * Oldest first by creation (the key order), which is close to oldest finished first; a job created after the
   * cut-off cannot have finished before it, so the walk ends there. See jetstream-expiry.ts for the order of purges.
   */
  expireJobs(finishedBeforeMs: number, limit: number): Promise<string[]> {
    return this.op('expiring jobs', async () => {
      await this.expiry.clearMarkers();
      const ids = await this.listJobIds();
      const out: string[] = [];
      for (let i = 0; i < ids.length && out.length < limit; i += READ_WINDOW) {
        const jobs = await Promise.all(ids.slice(i, i + READ_WINDOW).map((id) => this.getJob(id)));
        for (const job of jobs) {
          if (job === undefined || out.length >= limit) continue;
          if (job.createdUnixMs >= finishedBeforeMs) return out;
          if (!isFinishedState(job.state) || finishedAt(job) >= finishedBeforeMs) continue;
          await this.expiry.expire(job);
          this.jobExpired(job.id);
          out.push(job.id);
        }
      }
      return out;
    });
  }

  /**
   * Oldest first by creation, as expireJobs. What counts is the bytes of the image bucket's stream and of the events
   * stream (small images are inside their events), asked again after each job.
   */
  expireToFit(maxImageBytes: number, limit: number): Promise<string[]> {
    return this.op('expiring jobs', async () => {
      await this.expiry.clearMarkers();
      const streamBytes = async (name: string) => (await this.jsm.streams.info(name)).state.bytes;
      const bytes = async () => (await Promise.all([streamBytes(this.n.imagesStream), streamBytes(this.n.eventsStream)])).reduce((a, b) => a + b);
      const out: string[] = [];
      if (await bytes() <= maxImageBytes) return out;
      const ids = await this.listJobIds();
      for (let i = 0; i < ids.length && out.length < limit; i += READ_WINDOW) {
        const jobs = await Promise.all(ids.slice(i, i + READ_WINDOW).map((id) => this.getJob(id)));
        for (const job of jobs) {
          if (job === undefined || out.length >= limit || !isFinishedState(job.state)) continue;
          await this.expiry.expire(job);
          this.jobExpired(job.id);
          out.push(job.id);
          if (await bytes() <= maxImageBytes) return out;
        }
      }
      return out;
    });
  }

  onJobExpired(listener: (jobId: string) => void): void {
    this.expiryListeners.push(listener);
  }

  /** Forgets what this coordinator kept about an expired job, and tells listeners (the watch may tell them again). */
  private jobExpired(jobId: string): void {
    this.seenRevision.delete(jobId);
    for (const m of [this.ended, this.noConsumer]) m.delete(jobId);
    for (const m of [this.totals, this.finalCounts]) m.delete(jobId);
    this.forgetConsumerChecks(jobId);
    for (const l of this.expiryListeners) l(jobId);
  }

  /**
   * Runs `fn` again after a transient failure, a few times. For reads through an ephemeral consumer: on a cluster
   * whose node was just killed, the server may place a new consumer on that node until it notices it is gone, and
   * the consumer's creation then times out; another try is placed afresh.
   */
  private async retried<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err) || i >= attempts || this.closed) throw err;
      }
    }
  }

  updateJob(id: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined> {
    return this.op('updating the job', async () => {
      for (let round = 0; ; round++) {
        if (round >= 100) throw new UnavailableError(`job ${id} is changing too fast to update; retry`);
        const e = await this.jobsKv.get(id);
        if (e === null || e.operation !== 'PUT') return undefined;
        const next = change(e.json<JobRecord>());
        if (next === undefined) return undefined;
        try {
          const rev = await this.jobsKv.update(id, json(next), e.revision);
          this.emitJob(next, rev);
          return next;
        } catch (err) {
          if (!isApiError(err, WRONG_LAST_SEQUENCE)) throw err;
          // Another coordinator changed it first: apply the change to the newer record.
        }
      }
    });
  }

  onJobChange(listener: (job: JobRecord) => void): void {
    this.jobListeners.push(listener);
  }

  private emitJob(job: JobRecord, revision: number): void {
    if ((this.seenRevision.get(job.id) ?? 0) >= revision) return;
    this.seenRevision.set(job.id, revision);
    if (TERMINAL.has(job.state)) {
      this.ended.add(job.id);
      this.dropCursors(job.id);
    }
    for (const l of this.jobListeners) l({ ...job });
  }

  /** Every job change, from every coordinator: the KV watcher resumes by itself after reconnects. */
  private async watchJobs(): Promise<void> {
    const w = await this.jobsKv.watch({ include: KvWatchInclude.UpdatesOnly });
    void (async () => {
      for await (const e of w) {
        // A purge is an expiry (jetstream-expiry.ts), here or on another coordinator.
        if (e.operation === 'PURGE') this.jobExpired(e.key);
        if (e.operation !== 'PUT') continue;
        try {
          this.emitJob(e.json<JobRecord>(), e.revision);
        } catch (err) {
          this.o.log.error({ err, job: e.key }, 'bad job record in the store');
        }
      }
    })().catch((err: unknown) => { if (!this.closed) this.o.log.error({ err }, 'job watcher ended'); });
  }

  // ---- tasks

  leaseTasks(jobId: string, max: number): Promise<StoredLease[]> {
    if (this.noConsumer.has(jobId) || this.ended.has(jobId) || max <= 0) return Promise.resolve([]);
    return this.op('leasing tasks', async () => {
      const out: BlockLease[] = [];
      const rest: BlockLease[] = [];
      while (out.length < max) {
        const asked = Math.ceil((max - out.length) / TASK_BLOCK);
        const messages = await this.pullTasks(jobId, asked);
        for (const m of messages) {
          const { streamSeq, delivered } = ackInfo(m.reply);
          const tasks = decodeBlock(m.json<unknown>());
          const delivery = new BlockDelivery(m.reply ?? '', tasks.length);
          // Unique per (task, delivery): a redelivered or requeued task never repeats an epoch (save when
          // nats-server#5305 hands a task out anew, see pullTasks: the commit fence keeps its second render out).
          tasks.forEach((t, part) => (out.length < max ? out : rest).push(new BlockLease(t, blockEpoch(streamSeq, delivered, part), delivery)));
        }
        if (messages.length < asked) break;
      }
      if (out.length > 0) this.leasedHere.set(jobId, (this.leasedHere.get(jobId) ?? 0) + out.length);
      if (rest.length > 0) await this.moveOn(jobId, rest);
      return out;
    });
  }

  /**
   * Tasks pulled past what was asked move on to a message of their own at the queue's end, and leave their old
   * one. If NATS does not take that message they stay in the old one, which comes back whole (its other tasks
   * fenced) once its leases end and `ack_wait` passes: late, never lost.
   */
  private async moveOn(jobId: string, rest: readonly BlockLease[]): Promise<void> {
    try {
      await this.publishBlock(rest.map((l) => l.task), `/${(rest[0] as BlockLease).epoch}`);
    } catch (err) {
      if (!isTransient(err)) throw err;
      this.o.log.warn({ err, job: jobId, tasks: rest.length }, 'could not move tasks on to a message of their own; they wait for their old one to come back');
      return;
    }
    for (const l of rest) if (l.release()) await this.ack(l, '+ACK');
    for (const l of this.taskListeners) l(jobId);
  }

  /**
   * Up to `max` task messages of the job that are ready now.
   *
   * An answer of "no messages" is not always true. nats-server before 2.10.14 (nats-server#5305), when it cannot
   * hand a redelivered task to a pull request because the requester has gone, steps the consumer back one
   * message: the task it handed out last is handed out again as new, and the server's count of the consumer's
   * waiting messages ends one short. A pull with no_wait consults that count, so once it reads 0 the job's last
   * task is never handed out and the job never ends. Requesters go exactly when NATS stalls or a connection
   * drops: the pulls in flight then are acted on later, for nobody. So an empty answer is checked against the
   * stream (see tasksHidden), and if tasks wait the job is pulled again at once.
   */
  private async pullTasks(jobId: string, max: number): Promise<Msg[]> {
    const pull = () => pullNow(this.nc, this.n.tasksStream, this.n.taskConsumer(jobId), max, PULL_TIMEOUT_MS);
    const pulled = await pull();
    if (pulled.messages.length > 0) {
      this.unansweredSince.delete(jobId);
      this.hiddenSince.delete(jobId);
      return pulled.messages;
    }
    if (pulled.timedOut || pulled.status !== undefined) {
      await this.checkTaskConsumer(jobId, pulled.timedOut);
      return [];
    }
    this.unansweredSince.delete(jobId);
    if (!(await this.tasksHidden(jobId))) return [];
    this.o.log.warn({ job: jobId }, 'NATS answered "no messages" while tasks wait (nats-server#5305); pulling again');
    const again = await pull();
    if (again.messages.length > 0) {
      this.hiddenSince.delete(jobId);
      return again.messages;
    }
    // A server that does not count again when asked for the consumer's info answers "no messages" for good.
    const now = Date.now();
    const since = this.hiddenSince.get(jobId) ?? now;
    remember(this.hiddenSince, jobId, since);
    if (now - since >= STUCK_AFTER_MS) {
      this.hiddenSince.delete(jobId);
      await this.recreateTaskConsumer(jobId, 'task consumer answers "no messages" while tasks wait; recreating it', {});
    }
    return [];
  }

  /**
   * After an answer of "no messages": whether the job's newest task message lies past what its consumer has
   * delivered, i.e. tasks wait that the consumer does not count. Asked at most every EMPTY_CHECK_MS per job (an
   * empty answer is the usual one for a job whose tasks are all leased). Asking for the consumer's info also makes
   * a 2.9 server count its waiting messages again, so the pull that follows gets them.
   */
  private async tasksHidden(jobId: string): Promise<boolean> {
    const now = Date.now();
    if (now - (this.emptyCheckedAt.get(jobId) ?? -Infinity) < EMPTY_CHECK_MS) return false;
    remember(this.emptyCheckedAt, jobId, now);
    const info = await this.jsm.consumers.info(this.n.tasksStream, this.n.taskConsumer(jobId)).catch(() => undefined);
    if (info === undefined) return false;
    const newest = await this.jsm.streams.getMessage(this.n.tasksStream, { last_by_subj: this.n.task(jobId) });
    const hidden = (newest?.seq ?? 0) > info.delivered.stream_seq;
    if (!hidden) this.hiddenSince.delete(jobId);
    return hidden;
  }

  /**
   * A pull that got no answer, or an error status, with nothing in it. Usually the consumer is gone (a pull to a
   * missing consumer is silently dropped): the job ended, or, never expected while it runs, someone deleted it.
   * Or the consumer is stuck: after an unclean restart a nats-server before 2.9.22 can restore a consumer whose
   * pending list names messages the work queue already deleted; it then parks every pull and delivers nothing
   * more (nats-server#4472). Either way the job would stall, so the consumer is made again (when stuck, after
   * STUCK_AFTER_MS of unanswered pulls).
   */
  private async checkTaskConsumer(jobId: string, unanswered: boolean): Promise<void> {
    const consumer = this.n.taskConsumer(jobId);
    const info = await this.jsm.consumers.info(this.n.tasksStream, consumer).then(
      (ci) => ci,
      (err: unknown) => (isApiError(err, CONSUMER_NOT_FOUND) ? undefined : 'unknown' as const),
    );
    if (info === 'unknown') return;
    if (info === undefined) {
      const job = await this.getJob(jobId);
      if (job === undefined || TERMINAL.has(job.state)) this.noConsumer.add(jobId);
      else {
        this.o.log.warn({ job: jobId }, 'task consumer of a running job was missing; recreating it');
        await this.addTaskConsumer(jobId);
      }
      return;
    }
    if (!unanswered || info.num_pending === 0) {
      this.unansweredSince.delete(jobId);
      return;
    }
    const since = this.unansweredSince.get(jobId) ?? Date.now();
    remember(this.unansweredSince, jobId, since);
    if (Date.now() - since < STUCK_AFTER_MS) return;
    this.unansweredSince.delete(jobId);
    await this.recreateTaskConsumer(jobId, 'task consumer delivers nothing while tasks wait; recreating it', { waiting: info.num_pending, leased: info.num_ack_pending });
  }

  /**
   * Replaces a stuck task consumer: the new one delivers every task still in the stream, including those leased
   * now, whose second render the commit fence drops.
   */
  private async recreateTaskConsumer(jobId: string, why: string, details: Record<string, number>): Promise<void> {
    this.o.log.warn({ job: jobId, ...details }, why);
    this.forgetConsumerChecks(jobId);
    await this.jsm.consumers.delete(this.n.tasksStream, this.n.taskConsumer(jobId)).catch(() => undefined);
    await this.addTaskConsumer(jobId);
  }

  private forgetConsumerChecks(jobId: string): void {
    this.unansweredSince.delete(jobId);
    this.hiddenSince.delete(jobId);
    this.emptyCheckedAt.delete(jobId);
  }

  extendLease(lease: StoredLease): void {
    if (this.isHealthy && lease instanceof BlockLease && lease.delivery.dueForExtension(Date.now())) void this.ack(lease, '+WPI');
  }

  completeLease(lease: StoredLease): Promise<void> {
    // A lost ack only means the task is delivered again; its commit is fenced, so nothing is duplicated.
    return lease instanceof BlockLease && this.release(lease) ? this.ack(lease, '+ACK') : Promise.resolve();
  }

  /** A lease of this store's is finished or moved on (once); true when its message has no open task left. */
  private release(lease: BlockLease): boolean {
    if (lease.isReleased) return false;
    const { jobId } = lease.task;
    const held = (this.leasedHere.get(jobId) ?? 1) - 1;
    if (held > 0) this.leasedHere.set(jobId, held);
    else this.leasedHere.delete(jobId);
    return lease.release();
  }

  /**
   * Fire and forget: while reconnecting the client buffers it; on a closed connection it is moot. Resolves once
   * it is handed to the client, so a request that follows reaches the server after it.
   */
  private ack(lease: BlockLease, what: '+WPI' | '+ACK' | '-NAK'): Promise<void> {
    if (this.nc.isClosed()) return Promise.resolve();
    return this.requests.publish(lease.delivery.reply, what);
  }

  returnLease(lease: StoredLease, lost: boolean): Promise<void> {
    if (!(lease instanceof BlockLease)) return Promise.resolve();
    const { jobId } = lease.task;
    if (this.ended.has(jobId)) return this.completeLease(lease);
    // A task that shares its message with others moves on to a message of its own; one alone is handed out again.
    if (!lost && lease.delivery.size === 1) {
      // Same task, next delivery: a nak makes it leasable again at once.
      return this.op('returning a lease', async () => {
        // Sent before the listeners pull again, so their pull finds the task.
        if (this.release(lease)) await this.ack(lease, '-NAK');
        for (const l of this.taskListeners) l(jobId);
      });
    }
    return this.requeue(lease, lost ? { ...lease.task, losses: lease.task.losses + 1 } : lease.task, !lost);
  }

  retryLease(lease: StoredLease, attempts: number): Promise<void> {
    if (!(lease instanceof BlockLease)) return Promise.resolve();
    if (this.ended.has(lease.task.jobId)) return this.completeLease(lease);
    return this.requeue(lease, { ...lease.task, attempts });
  }

  /**
   * Queues the task again, then settles it in its old message. A task with a new history is published under an id
   * made of it; one handed back `asIs` under an id made of its lease, which no other publish shares.
   */
  private requeue(lease: BlockLease, task: TaskSpec, asIs = false): Promise<void> {
    return this.op('returning a lease', async () => {
      // If we die between the two steps the old message is delivered again as well: the commit fence drops the second render.
      await (asIs ? this.publishBlock([task], `/${lease.epoch}`) : this.publishTask(task));
      await this.completeLease(lease);
      for (const l of this.taskListeners) l(task.jobId);
    });
  }

  dropTasks(jobId: string): Promise<number> {
    this.ended.add(jobId);
    return this.op('dropping tasks', async () => {
      // A purge counts messages, and a message holds a block of tasks: the waiting tasks are those neither
      // committed nor leased (as far as this coordinator knows: other coordinators' leases count as waiting).
      const total = await this.totalOf(jobId);
      const c = total === undefined ? undefined : await this.counter.count(jobId, total);
      const waiting = total === undefined || c === undefined ? 0 : total - c.succeeded - c.failed - (this.leasedHere.get(jobId) ?? 0);
      await this.jsm.streams.purge(this.n.tasksStream, { filter: this.n.task(jobId) });
      this.noConsumer.add(jobId);
      this.forgetConsumerChecks(jobId);
      this.jsm.consumers.delete(this.n.tasksStream, this.n.taskConsumer(jobId)).catch(() => undefined);
      return Math.max(0, waiting);
    });
  }

  onTasksWaiting(listener: (jobId: string) => void): void {
    this.taskListeners.push(listener);
  }

  // ---- events

  commitImage(jobId: string, index: number, info: ImageInfo, image?: StoredImage): Promise<FarmEvent | undefined> {
    return this.op('committing the image', async () => {
      const body: EventBody = { kind: 'image', unixMs: Date.now(), info };
      // A small image rides in its event, so it exists exactly when the commit does; a large one is stored first,
      // and a commit that then loses leaves its bytes unreferenced (see putObject).
      if (image !== undefined && image.data.length <= INLINE_IMAGE_BYTES) body.bytes = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength).toString('base64');
      else if (image !== undefined) await this.putObject(info.id, image);
      const failed = info.finishReason !== FinishReason.SUCCESS;
      // The failure's dead-letter marker first: every failed image event then has one, which is how failures are
      // counted (a marker whose commit loses to another is told apart by its event; see jetstream-counts.ts).
      if (failed) await this.deadKv.put(this.n.deadKey(jobId, index), json({ reason: info.error }));
      let ack: PubAck;
      try {
        // Expected last subject sequence 0: only the first commit of this image anywhere succeeds. The random
        // message id lets this call retry a publish whose ack was lost without losing its own commit.
        ack = await this.publish(this.n.image(jobId, index), json(body), `${jobId}/i/${index}/${uniqueId()}`, 0);
      } catch (err) {
        if (isApiError(err, WRONG_LAST_SEQUENCE)) return undefined;
        throw err;
      }
      this.counter.committed(jobId, index, ack.seq, failed);
      return { seq: ack.seq, unixMs: body.unixMs, kind: 'image', info: body.info };
    });
  }

  appendState(jobId: string, event: Extract<NewEvent, { kind: 'state' }>, fence?: string): Promise<FarmEvent | undefined> {
    return this.op('appending a job event', async () => {
      const body: EventBody = { kind: 'state', unixMs: Date.now(), state: event.state, counts: { ...event.counts }, reason: event.reason };
      const token = fence === undefined ? 'x' : `f_${fence.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      let ack: PubAck;
      try {
        ack = await this.publish(this.n.state(jobId, token), json(body), `${jobId}/s/${token}/${uniqueId()}`, fence === undefined ? undefined : 0);
      } catch (err) {
        if (isApiError(err, WRONG_LAST_SEQUENCE)) return undefined;
        throw err;
      }
      if (fence === 'end') this.jobEnded(jobId, body);
      return { seq: ack.seq, unixMs: body.unixMs, kind: 'state', state: body.state, counts: body.counts, reason: body.reason };
    });
  }

  /** The job's end event is written: its counts are final, and its consumers can go. */
  private jobEnded(jobId: string, body: Extract<EventBody, { kind: 'state' }>): void {
    this.ended.add(jobId);
    this.noConsumer.add(jobId);
    this.forgetConsumerChecks(jobId);
    this.leasedHere.delete(jobId);
    this.dropCursors(jobId);
    this.finalize(jobId, { succeeded: body.counts.succeeded, failed: body.counts.failed });
    const quiet = () => undefined;
    this.jsm.consumers.delete(this.n.tasksStream, this.n.taskConsumer(jobId)).catch(quiet);
    this.jsm.consumers.delete(this.n.eventsStream, this.n.tallyConsumer(jobId)).catch(quiet);
    // Stragglers (a task requeued while the job ended) would otherwise wait forever.
    this.jsm.streams.purge(this.n.tasksStream, { filter: this.n.task(jobId) }).catch(quiet);
  }

  readEvents(jobId: string, after: number, limit: number): Promise<FarmEvent[]> {
    return this.op('reading job events', async () => {
      for (let attempt = 0; ; attempt++) {
        const cursor = await this.cursorAt(jobId, after);
        const pulled = await pullNow(this.nc, this.n.eventsStream, cursor.consumer, limit, PULL_TIMEOUT_MS);
        const events = pulled.messages.map((m) => decodeEvent(ackInfo(m.reply).streamSeq, m.data));
        // A cursor that timed out or failed may have sent more than we saw: never reuse it.
        const usable = !pulled.timedOut && pulled.status === undefined;
        // After the job's last event the cursor has nothing more to read: it goes now, not after CURSOR_IDLE_MS.
        const atEnd = events.some((e) => e.kind === 'state' && TERMINAL.has(e.state));
        if (usable && !atEnd) {
          cursor.position = events.at(-1)?.seq ?? after;
          this.parkCursor(cursor);
        } else {
          this.dropCursor(cursor);
        }
        if (events.length > 0 || usable || attempt >= 1) return events;
      }
    });
  }

  /** A cursor (ephemeral consumer) positioned just after `after`: a watcher reading on reuses the one it left off with. */
  private async cursorAt(jobId: string, after: number): Promise<EventCursor> {
    const pool = this.cursors.get(jobId) ?? [];
    const i = pool.findIndex((c) => c.position === after);
    if (i >= 0) return pool.splice(i, 1)[0] as EventCursor;
    const ci = await this.jsm.consumers.add(this.n.eventsStream, {
      filter_subject: this.n.events(jobId), ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: after + 1, inactive_threshold: 2 * CURSOR_IDLE_MS * NS_PER_MS, mem_storage: true, num_replicas: 1,
    });
    return { jobId, consumer: ci.name, position: after, lastUsedMs: Date.now() };
  }

  private parkCursor(c: EventCursor): void {
    c.lastUsedMs = Date.now();
    const pool = this.cursors.get(c.jobId) ?? [];
    // Readers that share a position share one cursor (two reads that ended at the same event are common at a
    // live job's tail): a second one there would only wait to be swept.
    if (pool.some((p) => p.position === c.position)) {
      this.deleteConsumer(c);
      return;
    }
    pool.push(c);
    while (pool.length > MAX_CURSORS_PER_JOB) this.deleteConsumer(pool.shift() as EventCursor);
    this.cursors.set(c.jobId, pool);
  }

  private dropCursor(c: EventCursor): void {
    this.deleteConsumer(c);
  }

  /**
   * The job ended: its parked cursors go now rather than after CURSOR_IDLE_MS, so its reads leave no consumer
   * behind. A watcher still reading makes a new one, which goes once it has read the end.
   */
  private dropCursors(jobId: string): void {
    for (const c of this.cursors.get(jobId) ?? []) this.deleteConsumer(c);
    this.cursors.delete(jobId);
  }

  private deleteConsumer(c: EventCursor): void {
    if (this.isHealthy) this.jsm.consumers.delete(this.n.eventsStream, c.consumer).catch(() => undefined);
  }

  private sweepCursors(): void {
    for (const [jobId, pool] of this.cursors) {
      const old = Date.now() - (this.ended.has(jobId) ? ENDED_CURSOR_IDLE_MS : CURSOR_IDLE_MS);
      const keep = pool.filter((c) => c.lastUsedMs >= old);
      for (const c of pool) if (c.lastUsedMs < old) this.deleteConsumer(c);
      if (keep.length === 0) this.cursors.delete(jobId);
      else this.cursors.set(jobId, keep);
    }
  }

  async waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.closed) return;
    let entry = this.eventSubs.get(jobId);
    if (entry === undefined) {
      // Core NATS sees every event the stream stores: a message on the job's subjects means "look again".
      const wake = new Set<() => void>();
      const sub = this.nc.subscribe(this.n.events(jobId), { callback: () => { for (const w of [...wake]) w(); } });
      entry = { sub, wake };
      this.eventSubs.set(jobId, entry);
      await this.nc.flush().catch(() => undefined);
    }
    const e = entry;
    let done: () => void = () => undefined;
    const woken = new Promise<void>((resolve) => { done = resolve; });
    e.wake.add(done);
    signal.addEventListener('abort', done, { once: true });
    const timer = setTimeout(done, WAIT_POLL_MS);
    try {
      // Subscribed first, then checked: an event stored in between is seen one way or the other.
      const last = await this.lastSequence(jobId).catch(() => Number.POSITIVE_INFINITY);
      if (last > after) return;
      await woken;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      e.wake.delete(done);
      if (e.wake.size === 0 && this.eventSubs.get(jobId) === e) {
        this.eventSubs.delete(jobId);
        e.sub.unsubscribe();
      }
    }
  }

  lastSequence(jobId: string): Promise<number> {
    return this.op('reading the job\'s last event', async () => {
      const m = await this.jsm.streams.getMessage(this.n.eventsStream, { last_by_subj: this.n.events(jobId) });
      return m?.seq ?? 0;
    });
  }

  counts(jobId: string): Promise<Counts> {
    const final = this.finalCounts.get(jobId);
    if (final !== undefined) return Promise.resolve({ ...final });
    return this.op('counting images', async () => {
      // Once a job has ended, every coordinator reports the counts its end event recorded.
      const end = this.ended.has(jobId) ? await this.endCounts(jobId) : undefined;
      if (end !== undefined) return end;
      const total = await this.totalOf(jobId);
      if (total === undefined) return { succeeded: 0, failed: 0 };
      const c = await this.counter.count(jobId, total);
      // Every image is committed: the counts can no longer change.
      if (c.succeeded + c.failed >= total) this.finalize(jobId, c);
      return c;
    });
  }

  private finalize(jobId: string, c: Counts): void {
    remember(this.finalCounts, jobId, { ...c });
    this.counter.forget(jobId);
  }

  /** The counts in the job's end event, cached; undefined while it has none. */
  private async endCounts(jobId: string): Promise<Counts | undefined> {
    const end = await this.jsm.streams.getMessage(this.n.eventsStream, { last_by_subj: this.n.state(jobId, 'f_end') });
    if (end === null) return undefined;
    const e = decodeEvent(end.seq, end.data);
    if (e.kind !== 'state') return undefined;
    const c = { succeeded: e.counts.succeeded, failed: e.counts.failed };
    this.finalize(jobId, c);
    return { ...c };
  }

  private async totalOf(jobId: string): Promise<number | undefined> {
    let total = this.totals.get(jobId);
    if (total === undefined) {
      total = (await this.getJob(jobId))?.total;
      if (total !== undefined) remember(this.totals, jobId, total);
    }
    return total;
  }

  imageInfo(jobId: string, index: number): Promise<ImageInfo | undefined> {
    return this.op('reading the image info', async () => (await this.imageEvent(jobId, index))?.info);
  }

  /** The image's committed event as stored (with its bytes, for a small image); undefined before the commit. */
  private async imageEvent(jobId: string, index: number): Promise<Extract<EventBody, { kind: 'image' }> | undefined> {
    const m = await this.jsm.streams.getMessage(this.n.eventsStream, { last_by_subj: this.n.image(jobId, index) });
    if (m === null) return undefined;
    const body = JSON.parse(dec.decode(m.data)) as EventBody;
    return body.kind === 'image' ? body : undefined;
  }

  deadLetter(task: TaskSpec, reason: string): Promise<void> {
    return this.op('recording a dead letter', async () => {
      await this.deadKv.put(this.n.deadKey(task.jobId, task.index), json({ reason, attempts: task.attempts, losses: task.losses, unixMs: Date.now() }));
    });
  }

  // ---- images

  /**
   * Writes a large image in the object store's own layout (its chunks, then its meta with a subject rollup), so info()
   * and any NATS client read it, but publishes the chunks and the meta at once and awaits them together. The
   * object store's put() awaits each in turn after first looking the name up: three round trips or more on every
   * commit. That look-up finds only an earlier render of the same image (a duplicate, whose commit then loses), so
   * its chunks are left unreferenced: they cost their bytes until the bucket's limits expire them, nothing else.
   * Publishes from one connection are stored in order, so a reader that finds the meta finds the chunks before it
   * or none (and then the image is not committed yet: this returns before the commit).
   */
  private putObject(imageId: string, image: StoredImage): Promise<void> {
    return this.op('storing the image', async () => {
      const { data } = image;
      const nuid = uniqueId();
      const chunkSubject = this.n.imageChunks(nuid);
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < data.length; at += IMAGE_CHUNK_BYTES) chunks.push(data.subarray(at, at + IMAGE_CHUNK_BYTES));
      const meta = {
        name: imageId, description: '', options: { max_chunk_size: IMAGE_CHUNK_BYTES }, metadata: { mime: image.mimeType },
        bucket: this.n.imagesBucket, nuid, size: data.length, chunks: chunks.length, mtime: new Date().toISOString(),
        digest: `SHA-256=${createHash('sha256').update(data).digest('base64').replace(/\+/g, '-').replace(/\//g, '_')}`, deleted: false,
      };
      await Promise.all([
        ...chunks.map((c) => this.requests.jsPublish(chunkSubject, c)),
        this.requests.jsPublish(this.n.imageMeta(imageId), json(meta), { rollup: 'sub' }),
      ]);
    });
  }

  /** From its commit event when the bytes are there (small images), else from the object store. */
  getImage(imageId: string): Promise<StoredImage | undefined> {
    return this.op('reading the image', async () => {
      const inEvent = await this.imageInEvent(imageId);
      if (inEvent !== undefined) return inEvent;
      const info = await this.images.info(imageId);
      if (info === null || info.deleted) return undefined;
      // Chunk by chunk with plain stream reads (each a request with a timeout, answered by the stream leader), not
      // the object store's get(): that streams through an ephemeral consumer, which on a cluster with a node down
      // can be placed on that node and then times out or never delivers, stalling every watch that wants the image.
      const chunks = this.n.imageChunks(info.nuid);
      const parts: Uint8Array[] = [];
      let size = 0;
      for (let seq = 0; size < info.size; ) {
        const m = await nextBySubject(this.jsm, this.n.imagesStream, seq, chunks);
        if (m === null) return undefined;
        parts.push(m.data);
        size += m.data.length;
        seq = m.seq + 1;
      }
      const data = Buffer.concat(parts);
      const digest = createHash('sha256').update(data).digest('base64url');
      if (info.digest.replace(/^SHA-256=/, '').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_') !== digest) {
        throw new Error(`image ${imageId} is corrupt: its digest does not match`);
      }
      return { data, mimeType: info.metadata?.['mime'] ?? 'application/octet-stream' };
    });
  }

  private async imageInEvent(imageId: string): Promise<StoredImage | undefined> {
    const id = parseImageId(imageId);
    if (id === undefined) return undefined;
    const body = await this.imageEvent(id.jobId, id.index);
    return body?.bytes === undefined ? undefined : { data: Buffer.from(body.bytes, 'base64'), mimeType: body.info.mimeType };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const { sub } of this.eventSubs.values()) sub.unsubscribe();
    this.eventSubs.clear();
    if (this.isHealthy) {
      await Promise.all([...this.cursors.values()].flat().map((c) => this.jsm.consumers.delete(this.n.eventsStream, c.consumer).catch(() => undefined)));
    }
    this.cursors.clear();
    this.requests.close();
    await this.nc.close();
  }
}

const TERMINAL = new Set<JobState>([JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED]);

/** Per-job caches keep the newest entries only. */
const CACHE_ENTRIES = 10_000;
function remember<V>(m: Map<string, V>, key: string, value: V): void {
  m.delete(key);
  m.set(key, value);
  if (m.size > CACHE_ENTRIES) m.delete(m.keys().next().value as string);
}

function decodeEvent(seq: number, data: Uint8Array): FarmEvent {
  const body = JSON.parse(dec.decode(data)) as EventBody;
  if (body.kind === 'image') return { seq, unixMs: body.unixMs, kind: 'image', info: body.info };
  return { ...body, seq };
}

async function ensureStream(jsm: JetStreamManager, cfg: Parameters<JetStreamManager['streams']['add']>[0]): Promise<void> {
  try {
    await jsm.streams.info(cfg.name ?? '');
  } catch {
    await jsm.streams.add(cfg);
  }
}
