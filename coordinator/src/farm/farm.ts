// The coordinator's heart: jobs, fair-share leasing, and the leases held by
// this coordinator's workers. Everything that must outlive the process goes
// through the Store, so with JetStream several coordinators share one farm.
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError, sleep, type Logger } from '@latentfarm/common';
import {
  FinishReason, GenerationParams, JobState, batchGroupKey,
  type GetFarmStatusResponse, type Hello, type ImageInfo, type Job, type JobSpec, type ListJobsRequest,
  type PromptEntry, type Task, type TaskFailure, type TaskResult, type TaskStep,
} from '@latentfarm/proto';
import type { CoordinatorConfig } from '../config.js';
import { describeCost, estimateJob, imageCredits, type CostModel } from '../jobs/cost.js';
import { jobBatchGroup, priorityWeight, validateEntry, validateSpec, withModelDefaults, type Defaults, type Limits } from '../jobs/params.js';
import { EntryTaskSource } from '../jobs/task-source.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { FairShare } from '../scheduling/fair-share.js';
import type { JobRecord, Store, StoredLease, TaskSpec } from '../store/store.js';
import { ModelRegistry } from './model-registry.js';
import { Throughput } from './throughput.js';
import { WorkerSession, type HeldLease, type WorkerLink } from './worker-session.js';

/** A worker may be lost this many times while holding an image before the image fails. */
const MAX_LEASE_LOSSES = 10;
/** Most tasks taken from the store in one go. */
const MAX_LEASE_BATCH = 64;
/** How long a job that had nothing to lease is skipped (unless the store says otherwise). */
const DRY_MS = 500;
/** How often unfinished jobs are checked for completion besides after each commit. */
const FINISH_SWEEP_MS = 5_000;
const TERMINAL = new Set<JobState>([JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED]);

export const isFinished = (j: JobRecord): boolean => TERMINAL.has(j.state);

export interface Progress {
  step: number;
  total: number;
}

export class Farm {
  /** Jobs this coordinator knows of (all active ones, plus recently seen finished ones). */
  private readonly jobs = new Map<string, JobRecord>();
  private readonly share = new FairShare();
  private readonly sessions = new Map<string, WorkerSession>();
  private readonly leases = new Map<string, HeldLease>();
  /** Latest step of running images, per job: what watchers show as progress. */
  readonly progress = new Map<string, Map<number, Progress>>();
  /** Images each job has committed through this coordinator, for the queue estimate. */
  private readonly committedHere = new Map<string, number>();
  private readonly throughput = new Throughput();
  private imagesCompleted = 0;
  private dispatching = false;
  private dispatchAgain = false;
  /** Called once no dispatch is running or due (see settled()). */
  private idleWaiters: (() => void)[] = [];
  private readonly finishing = new Map<string, Promise<void>>();
  /** Jobs whose finishing check was asked for while one ran: it runs again, so no last commit goes unseen. */
  private readonly finishAgain = new Set<string>();
  private readonly timers: NodeJS.Timeout[] = [];
  readonly limits: Limits;
  readonly defaults: Defaults;
  readonly cost: CostModel;
  /** Models accepted and served, and the defaults each gives a job. */
  readonly models: ModelRegistry;

  constructor(
    private readonly config: CoordinatorConfig,
    readonly store: Store,
    private readonly metrics: CoordinatorMetrics,
    private readonly log: Logger,
  ) {
    this.limits = {
      maxPromptChars: config.maxPromptChars, maxWidth: config.maxWidth, maxHeight: config.maxHeight,
      maxSteps: config.maxSteps, maxCfgScale: config.maxCfgScale, maxImagesPerEntry: config.maxImagesPerJob,
    };
    this.defaults = { width: config.defaultWidth, height: config.defaultHeight, steps: config.defaultSteps, cfgScale: config.defaultCfgScale };
    this.models = new ModelRegistry({
      accepted: config.models, defaultModel: config.defaultModel, fallbackWidth: config.defaultWidth, fallbackHeight: config.defaultHeight,
      maxWidth: config.maxWidth, maxHeight: config.maxHeight,
    });
    this.cost = { basePixels: config.costBasePixels, baseSteps: config.costBaseSteps, minCredits: config.costMinCredits };
    store.onJobChange((job) => this.onJobChange(job));
    store.onTasksWaiting((id) => {
      this.share.wake(id);
      this.scheduleDispatch();
    });
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(Math.max(50, Math.floor(config.leaseTtlMs / 4)), () => this.sweepWorkers());
    // Gauges are read every scrape, not every lease: once a second is plenty and keeps them off the hot path.
    every(1000, () => this.updateQueueGauges());
    every(Math.max(50, Math.floor(config.leaseTtlMs / 3)), () => { for (const l of this.leases.values()) this.store.extendLease(l.stored); });
    // Dry jobs wake by time too: tasks another coordinator hands back do not notify us.
    every(DRY_MS, () => this.scheduleDispatch());
    // A job whose last image was committed by a coordinator that died right after is finished by whoever looks next.
    every(FINISH_SWEEP_MS, () => { for (const j of this.jobs.values()) if (!isFinished(j)) this.checkFinished(j.id); });
  }

  /** Picks up the store's unfinished jobs (a restarted coordinator resumes them). */
  async start(): Promise<void> {
    for (const id of await this.store.listJobIds()) {
      const job = await this.store.getJob(id);
      if (job !== undefined && !isFinished(job)) {
        this.onJobChange(job);
        this.checkFinished(id);
      }
    }
    this.scheduleDispatch();
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    for (const s of [...this.sessions.values()]) this.dropWorker(s, 'shutdown');
  }

  get healthy(): boolean {
    return this.store.healthy();
  }

  // ---- jobs -------------------------------------------------------------

  /**
   * Validates a whole submission (throws InvalidArgumentError naming the field)
   * and resolves its spec: the model (a job that names none gets the farm's
   * default) and the size and scheduler it leaves unset (the model's own).
   */
  validate(spec: JobSpec | undefined, entries: readonly PromptEntry[], firstIndex = 0): JobSpec {
    const s = validateSpec(spec, this.limits);
    entries.forEach((e, i) => validateEntry(e, firstIndex + i, this.limits));
    const model = this.models.resolve(s.model);
    return { ...s, model, params: withModelDefaults(s.params, this.models.defaultsFor(model)) };
  }

  /** `entriesChecked`: the stream path validated each chunk as it arrived; no need to walk a million entries twice. */
  async submit(specIn: JobSpec | undefined, entries: readonly PromptEntry[], entriesChecked = false): Promise<{ job: Job; created: boolean }> {
    const validated = this.validate(specIn, entriesChecked ? [] : entries);
    if (entries.length === 0) throw new InvalidArgumentError('entries', 'empty: a job needs at least one prompt');
    if (!this.store.healthy()) throw new UnavailableError('the job store is unreachable; the job was not accepted, retry later');
    let total = 0;
    for (const e of entries) total += e.images || 1;
    if (total > this.config.maxImagesPerJob) {
      throw new InvalidArgumentError('entries', `${total} images in one job, at most ${this.config.maxImagesPerJob} allowed: split it into several jobs`);
    }
    const id = newJobId();
    if (validated.idempotencyKey !== '') {
      const holder = await this.store.claimIdempotencyKey(validated.idempotencyKey, id);
      if (holder !== id) return { job: await this.existingJob(holder, validated.idempotencyKey), created: false };
    }
    const waiting = this.waitingImages();
    if (waiting + total > this.config.maxQueuedImages) {
      throw new ResourceExhaustedError(`the farm queue is full (${waiting} images waiting, limit ${this.config.maxQueuedImages}); retry later or submit fewer images`);
    }
    const seed = validated.params?.seed ?? randomBytes(4).readUInt32LE(0);
    const spec: JobSpec = { ...validated, params: GenerationParams.fromPartial({ ...validated.params, seed }) };
    const credits = estimateJob(this.cost, spec.params, entries, this.defaults).credits;
    const record: JobRecord = {
      id, spec, total, promptCount: entries.length, createdUnixMs: Date.now(), estimatedCredits: credits,
      state: JobState.QUEUED, startedUnixMs: 0, finishedUnixMs: 0, reason: '',
    };
    await this.store.createJob(record, new EntryTaskSource(id, spec, entries, seed, this.defaults));
    this.onJobChange(record);
    await this.store.appendState(id, { kind: 'state', state: JobState.QUEUED, counts: counts(total, 0, 0, 0), reason: '' }, 'queued');
    this.metrics.jobsSubmitted.inc();
    this.metrics.imagesSubmitted.inc({ model: spec.model }, total);
    this.log.info({ job: id, images: total, prompts: entries.length, model: spec.model, priority: spec.priority }, 'job accepted');
    this.scheduleDispatch();
    return { job: await this.jobProto(id), created: true };
  }

  /** The job an idempotency key names; another coordinator may still be creating it. */
  private async existingJob(id: string, key: string): Promise<Job> {
    for (let i = 0; i < 50; i++) {
      if (this.jobs.has(id) || (await this.store.getJob(id)) !== undefined) return this.jobProto(id);
      await sleep(100);
    }
    throw new UnavailableError(`the job for idempotency key "${key}" is still being created; retry`);
  }

  /** Images not yet committed, per model (exact with one coordinator, an upper bound with several). */
  private waitingByModel(): Map<string, number> {
    const out = new Map<string, number>();
    for (const j of this.jobs.values()) {
      if (isFinished(j)) continue;
      out.set(j.spec.model, (out.get(j.spec.model) ?? 0) + j.total - (this.committedHere.get(j.id) ?? 0));
    }
    return out;
  }

  private waitingImages(): number {
    let n = 0;
    for (const v of this.waitingByModel().values()) n += v;
    return n;
  }

  async record(id: string): Promise<JobRecord> {
    const job = this.jobs.get(id) ?? (await this.store.getJob(id));
    if (job === undefined) throw new NotFoundError(`job "${id}" does not exist`);
    return job;
  }

  async jobProto(id: string): Promise<Job> {
    const job = await this.record(id);
    const [c, lastSequence] = await Promise.all([this.store.counts(id), this.store.lastSequence(id)]);
    const cancelled = job.state === JobState.CANCELLED ? job.total - c.succeeded - c.failed : 0;
    let running = 0;
    if (!isFinished(job)) for (const l of this.leases.values()) if (l.stored.task.jobId === id) running++;
    return {
      id: job.id, spec: job.spec, state: job.state, images: counts(job.total, c.succeeded, c.failed, cancelled, running),
      promptCount: job.promptCount, estimatedCredits: job.estimatedCredits,
      // Credits are charged pro rata per rendered image.
      spentCredits: job.total > 0 ? (job.estimatedCredits * c.succeeded) / job.total : 0,
      createdUnixMs: job.createdUnixMs, startedUnixMs: job.startedUnixMs, finishedUnixMs: job.finishedUnixMs, lastSequence,
    };
  }

  async list(req: ListJobsRequest): Promise<{ jobs: Job[]; nextPageToken: string }> {
    const size = req.pageSize === 0 ? 50 : Math.min(req.pageSize, 1000);
    const ids = await this.store.listJobIds();
    let start = ids.length - 1;
    if (req.pageToken !== '') {
      start = Number(req.pageToken);
      if (!Number.isInteger(start) || start < 0 || start >= ids.length) {
        throw new InvalidArgumentError('page_token', `"${req.pageToken}" is not a token this server gave out`);
      }
    }
    const states = new Set(req.states);
    const labels = Object.entries(req.labels);
    const out: Job[] = [];
    let i = start;
    for (; i >= 0 && out.length < size; i--) {
      const j = await this.store.getJob(ids[i] as string);
      if (j === undefined) continue;
      if (states.size > 0 && !states.has(j.state)) continue;
      if (labels.some(([k, v]) => j.spec.labels[k] !== v)) continue;
      out.push(await this.jobProto(j.id));
    }
    return { jobs: out, nextPageToken: i >= 0 ? String(i) : '' };
  }

  async cancel(id: string): Promise<Job> {
    await this.record(id);
    const changed = await this.store.updateJob(id, (j) => (isFinished(j) ? undefined : { ...j, state: JobState.CANCELLED, finishedUnixMs: Date.now(), reason: 'cancelled by request' }));
    if (changed !== undefined) {
      const dropped = await this.store.dropTasks(id);
      this.onJobChange(changed);
      const c = await this.store.counts(id);
      const cancelled = changed.total - c.succeeded - c.failed;
      this.metrics.imagesCancelled.inc(cancelled);
      await this.store.appendState(id, { kind: 'state', state: JobState.CANCELLED, counts: counts(changed.total, c.succeeded, c.failed, cancelled), reason: 'cancelled by request' }, 'end');
      this.log.info({ job: id, dropped }, 'job cancelled');
    }
    return this.jobProto(id);
  }

  /** A job record changed, here or on another coordinator. */
  private onJobChange(job: JobRecord): void {
    const before = this.jobs.get(job.id);
    this.jobs.set(job.id, job);
    if (isFinished(job)) {
      this.share.remove(job.id);
      this.progress.delete(job.id);
      this.committedHere.delete(job.id);
      if (before !== undefined && !isFinished(before)) this.metrics.activeJobs.dec();
      if (job.state === JobState.CANCELLED) this.dropJobLeases(job.id);
      return;
    }
    if (before === undefined) this.metrics.activeJobs.inc();
    if (!this.share.has(job.id)) {
      this.share.add(job.id, job.spec.model, jobBatchGroup(job.spec, this.defaults), priorityWeight(job.spec.priority));
      this.scheduleDispatch();
    }
  }

  /** Tells workers to drop this coordinator's leases of a cancelled job. */
  private dropJobLeases(jobId: string): void {
    const bySession = new Map<WorkerSession, string[]>();
    for (const l of [...this.leases.values()]) {
      if (l.stored.task.jobId !== jobId) continue;
      this.leases.delete(l.taskId);
      l.session.leases.delete(l.taskId);
      this.store.completeLease(l.stored).catch(() => undefined);
      bySession.set(l.session, [...(bySession.get(l.session) ?? []), l.taskId]);
    }
    for (const [session, taskIds] of bySession) session.link.send({ message: { $case: 'cancel', value: { taskIds } } });
  }

  async imageInfo(jobId: string, index: number): Promise<ImageInfo | undefined> {
    return this.store.imageInfo(jobId, index);
  }

  status(): GetFarmStatusResponse {
    return {
      workers: [...this.sessions.values()].map((s) => ({
        id: s.id, models: s.hello.models, maxBatch: s.hello.maxBatch, provider: s.hello.provider, device: s.hello.device,
        engine: s.hello.engine, leased: s.leases.size, imagesCompleted: s.imagesCompleted, connectedUnixMs: s.connectedUnixMs,
        draining: s.draining,
      })),
      models: this.models.status(),
      queuedImages: this.queuedEstimate(),
      leasedImages: this.leases.size,
      activeJobs: [...this.jobs.values()].filter((j) => !isFinished(j)).length,
      imagesPerSecond: this.throughput.perSecond(),
      imagesCompleted: this.imagesCompleted,
      defaultModel: this.models.defaultModelName(),
    };
  }

  describeCost(): string {
    return describeCost(this.cost);
  }

  // ---- workers ----------------------------------------------------------

  attachWorker(hello: Hello, link: WorkerLink): WorkerSession {
    const old = this.sessions.get(hello.workerId);
    if (old !== undefined) this.dropWorker(old, 'replaced');
    const session = new WorkerSession(hello, link);
    this.sessions.set(session.id, session);
    for (const problem of this.models.attach(session.id, hello)) this.log.warn({ worker: session.id }, problem);
    this.metrics.workersConnected.set(this.sessions.size);
    link.send({ message: { $case: 'welcome', value: { heartbeatIntervalMs: this.config.heartbeatMs, leaseTtlMs: this.config.leaseTtlMs } } });
    this.log.info({ worker: session.id, models: hello.models, modelDefaults: hello.modelDefaults, maxBatch: hello.maxBatch, provider: hello.provider }, 'worker connected');
    return session;
  }

  /** The worker is gone (stream ended, silence): its leases go back to wait. */
  dropWorker(session: WorkerSession, reason: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.models.detach(session.id);
    this.metrics.workersConnected.set(this.sessions.size);
    const held = [...session.leases.values()];
    for (const lease of held) this.requeue(lease, reason, true);
    session.link.close();
    this.log.info({ worker: session.id, reason, requeued: held.length }, 'worker disconnected');
    this.scheduleDispatch();
  }

  grantCredit(session: WorkerSession, slots: number): void {
    session.lastSeenMs = Date.now();
    session.credit += slots;
    this.scheduleDispatch();
  }

  /** A heartbeat keeps the worker's leases alive (its busy ratio is the worker's own metric). */
  heartbeat(session: WorkerSession): void {
    session.lastSeenMs = Date.now();
  }

  /** Worker hands tasks back without a failure: it is draining, so it gets no more leases. */
  release(session: WorkerSession, taskIds: readonly string[], epochs: readonly number[]): void {
    session.lastSeenMs = Date.now();
    session.draining = true;
    taskIds.forEach((taskId, i) => {
      const lease = this.currentLease(session, taskId, epochs[i] ?? -1);
      if (lease !== undefined) this.requeue(lease, 'released', false);
    });
    this.scheduleDispatch();
  }

  recordProgress(session: WorkerSession, steps: readonly TaskStep[]): void {
    session.lastSeenMs = Date.now();
    for (const s of steps) {
      const lease = this.currentLease(session, s.taskId, s.epoch);
      if (lease === undefined) continue;
      const { jobId, index } = lease.stored.task;
      let m = this.progress.get(jobId);
      if (m === undefined) this.progress.set(jobId, (m = new Map()));
      m.set(index, { step: s.step, total: s.totalSteps });
    }
  }

  async acceptResult(session: WorkerSession, r: TaskResult): Promise<void> {
    session.lastSeenMs = Date.now();
    const lease = this.currentLease(session, r.taskId, r.epoch);
    if (lease === undefined) {
      this.metrics.resultsDropped.inc();
      this.log.debug({ worker: session.id, task: r.taskId, epoch: r.epoch }, 'stale result dropped');
      return;
    }
    // The lease leaves the table now, so a concurrent duplicate is dropped while we store.
    this.forget(lease);
    const task = lease.stored.task;
    const job = this.jobs.get(task.jobId) ?? (await this.store.getJob(task.jobId));
    if (job === undefined || isFinished(job)) {
      await this.store.completeLease(lease.stored);
      return;
    }
    try {
      await this.store.putImage(lease.taskId, { data: r.image, mimeType: r.mimeType });
      const info = imageInfo(job, task, FinishReason.SUCCESS, '', session.id, r.image.length, r.mimeType);
      const event = await this.store.commitImage(task.jobId, task.index, info);
      await this.store.completeLease(lease.stored);
      if (event === undefined) {
        this.metrics.resultsDropped.inc();
        // Committed before (an earlier attempt whose answer was lost, or another coordinator): the job may be complete.
        this.checkFinished(task.jobId);
        return;
      }
    } catch (err) {
      this.log.error({ err, job: task.jobId, task: lease.taskId }, 'committing the result failed; the task waits again');
      await this.store.returnLease(lease.stored, false).catch(() => undefined);
      return;
    }
    this.progress.get(task.jobId)?.delete(task.index);
    this.countCommitted(task.jobId);
    session.imagesCompleted++;
    this.imagesCompleted++;
    this.throughput.add();
    this.metrics.imagesCompleted.inc({ model: job.spec.model });
    this.metrics.creditsSpent.inc({ model: job.spec.model }, imageCredits(this.cost, task.params.width, task.params.height, task.params.steps));
    this.metrics.imageLatency.observe({ model: job.spec.model }, (Date.now() - job.createdUnixMs) / 1000);
    this.checkFinished(task.jobId);
  }

  async acceptFailure(session: WorkerSession, f: TaskFailure): Promise<void> {
    session.lastSeenMs = Date.now();
    const lease = this.currentLease(session, f.taskId, f.epoch);
    if (lease === undefined) {
      this.metrics.resultsDropped.inc();
      return;
    }
    this.forget(lease);
    const task = lease.stored.task;
    const attempts = task.attempts + 1;
    this.log.warn({ worker: session.id, job: task.jobId, task: lease.taskId, attempts, reason: f.reason }, 'task failed');
    if (f.retryable && attempts < this.config.maxAttempts) {
      this.metrics.requeues.inc({ reason: 'failure' });
      await this.store.retryLease(lease.stored, attempts);
    } else {
      await this.failImage(lease.stored, f.retryable ? `failed ${attempts} times; last error: ${f.reason}` : f.reason, session.id, 'error');
    }
    this.scheduleDispatch();
  }

  // ---- leasing ----------------------------------------------------------

  private scheduleDispatch(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    setImmediate(() => {
      this.dispatch().catch((err: unknown) => this.log.error({ err }, 'dispatch failed')).finally(() => {
        this.dispatching = false;
        if (this.dispatchAgain) {
          this.dispatchAgain = false;
          this.scheduleDispatch();
        } else {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    });
  }

  /**
   * Resolves once the farm has acted on everything it was told so far: no dispatch running or due, no finishing
   * check under way. So a caller (a test) can look at what was leased or finished without waiting a guessed time.
   */
  async settled(): Promise<void> {
    for (;;) {
      if (this.dispatching) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else if (this.finishing.size > 0) await Promise.all(this.finishing.values());
      else return;
    }
  }

  /** Fills every worker's credit, fair share across jobs, one batch group per lease message where possible. */
  private async dispatch(): Promise<void> {
    if (!this.store.healthy()) return;
    for (const session of [...this.sessions.values()]) {
      let group: string | undefined;
      while (session.credit > 0 && !session.draining && this.sessions.get(session.id) === session) {
        const now = Date.now();
        const serves = (j: { model: string }) => session.models.has(j.model);
        const job = (group !== undefined ? this.share.pick((j) => serves(j) && j.group === group, now) : undefined) ?? this.share.pick(serves, now);
        if (job === undefined) break;
        const want = Math.min(session.credit, MAX_LEASE_BATCH);
        const stored = await this.store.leaseTasks(job.id, want);
        if (stored.length < want) this.share.markDry(job.id, Date.now() + DRY_MS);
        if (stored.length === 0) continue;
        this.share.charge(job.id, stored.length);
        await this.markRunning(job.id);
        if (this.sessions.get(session.id) !== session) {
          // The worker left while we were taking its tasks: they wait again.
          for (const s of stored) await this.store.returnLease(s, false);
          break;
        }
        // The images just leased, not the job's spec, say the group: entries may set their own sizes.
        group = batchGroupKey(job.model, (stored[stored.length - 1] as StoredLease).task.params);
        const tasks = stored.map((s) => this.lease(session, s));
        session.link.send({ message: { $case: 'lease', value: { tasks } } });
      }
    }
  }

  private lease(session: WorkerSession, stored: StoredLease): Task {
    const t = stored.task;
    const taskId = `${t.jobId}/${t.index}`;
    const held: HeldLease = { taskId, session, stored };
    session.credit--;
    session.leases.set(taskId, held);
    this.leases.set(taskId, held);
    this.metrics.tasksLeased.set(this.leases.size);
    const job = this.jobs.get(t.jobId);
    if (job !== undefined) this.metrics.queueWait.observe((Date.now() - job.createdUnixMs) / 1000);
    return {
      taskId, epoch: stored.epoch, jobId: t.jobId, model: job?.spec.model ?? '',
      prompt: t.prompt, negativePrompt: t.negativePrompt, params: t.params,
    };
  }

  private async markRunning(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job === undefined || job.state !== JobState.QUEUED) return;
    const changed = await this.store.updateJob(jobId, (j) => (j.state === JobState.QUEUED ? { ...j, state: JobState.RUNNING, startedUnixMs: Date.now() } : undefined));
    if (changed === undefined) return;
    this.onJobChange(changed);
    await this.store.appendState(jobId, { kind: 'state', state: JobState.RUNNING, counts: counts(changed.total, 0, 0, 0), reason: '' }, 'running');
  }

  private currentLease(session: WorkerSession, taskId: string, epoch: number): HeldLease | undefined {
    const held = this.leases.get(taskId);
    return held !== undefined && held.session === session && held.stored.epoch === epoch ? held : undefined;
  }

  private forget(lease: HeldLease): void {
    lease.session.leases.delete(lease.taskId);
    // The store may have leased the task again meanwhile (JetStream redelivers an expired lease): keep that one.
    if (this.leases.get(lease.taskId) === lease) this.leases.delete(lease.taskId);
    this.metrics.tasksLeased.set(this.leases.size);
  }

  /** A lease ends without a result: the image waits again, unless it lost too many workers. */
  private requeue(lease: HeldLease, reason: string, lost: boolean): void {
    this.forget(lease);
    const task = lease.stored.task;
    this.progress.get(task.jobId)?.delete(task.index);
    const job = this.jobs.get(task.jobId);
    if (job !== undefined && isFinished(job)) {
      this.store.completeLease(lease.stored).catch(() => undefined);
      return;
    }
    this.metrics.requeues.inc({ reason });
    if (lost && task.losses + 1 >= MAX_LEASE_LOSSES) {
      // A worker dying with an image is usually not the image's fault, so this
      // budget is larger than the failure budget; a poison image still ends.
      this.failImage(lease.stored, `its worker was lost ${MAX_LEASE_LOSSES} times (last: ${reason})`, lease.session.id, 'worker_lost').catch((err: unknown) => this.log.error({ err }, 'failing image'));
      return;
    }
    this.store.returnLease(lease.stored, lost).catch((err: unknown) => this.log.error({ err, task: lease.taskId }, 'returning a lease failed'));
  }

  private sweepWorkers(): void {
    const deadline = Date.now() - this.config.leaseTtlMs;
    for (const s of [...this.sessions.values()]) if (s.lastSeenMs < deadline) this.dropWorker(s, 'lease_expired');
  }

  private async failImage(stored: StoredLease, reason: string, workerId: string, kind: string): Promise<void> {
    const task = stored.task;
    const job = this.jobs.get(task.jobId) ?? (await this.store.getJob(task.jobId));
    if (job === undefined) return;
    const event = await this.store.commitImage(task.jobId, task.index, imageInfo(job, task, FinishReason.ERROR, reason, workerId, 0, ''));
    await this.store.completeLease(stored);
    if (event === undefined) return;
    await this.store.deadLetter(task, reason);
    this.countCommitted(task.jobId);
    this.progress.get(task.jobId)?.delete(task.index);
    this.metrics.imagesFailed.inc({ model: job.spec.model, reason: kind });
    this.checkFinished(task.jobId);
  }

  /** Ends the job once every image is committed. Serialized per job; safe to call often and from any coordinator. */
  private checkFinished(jobId: string): void {
    if (this.finishing.has(jobId)) {
      this.finishAgain.add(jobId);
      return;
    }
    const run = (async () => {
      const job = this.jobs.get(jobId);
      if (job === undefined || isFinished(job)) return;
      const c = await this.store.counts(jobId);
      if (c.succeeded + c.failed < job.total) return;
      const state = c.failed === 0 ? JobState.SUCCEEDED : c.succeeded === 0 ? JobState.FAILED : JobState.PARTIAL;
      await this.store.appendState(jobId, { kind: 'state', state, counts: counts(job.total, c.succeeded, c.failed, 0), reason: '' }, 'end');
      const changed = await this.store.updateJob(jobId, (j) => (isFinished(j) ? undefined : { ...j, state, finishedUnixMs: Date.now() }));
      if (changed !== undefined) {
        this.onJobChange(changed);
        this.log.info({ job: jobId, state: JobState[state], succeeded: c.succeeded, failed: c.failed }, 'job finished');
      }
    })().catch((err: unknown) => this.log.error({ err, job: jobId }, 'finishing check failed'));
    this.finishing.set(jobId, run);
    void run.finally(() => {
      this.finishing.delete(jobId);
      if (this.finishAgain.delete(jobId)) this.checkFinished(jobId);
    });
  }

  private queuedEstimate(): number {
    return Math.max(0, this.waitingImages() - this.leases.size);
  }

  private updateQueueGauges(): void {
    this.metrics.tasksLeased.set(this.leases.size);
    const leasedByModel = new Map<string, number>();
    for (const l of this.leases.values()) {
      const m = this.jobs.get(l.stored.task.jobId)?.spec.model ?? '';
      leasedByModel.set(m, (leasedByModel.get(m) ?? 0) + 1);
    }
    // Every known model gets a series, 0 when idle, so dashboards and autoscalers see zeros, not gaps.
    const waiting = this.waitingByModel();
    const models = new Set([...this.models.names(), ...waiting.keys()]);
    for (const model of models) this.metrics.tasksQueued.set({ model }, Math.max(0, (waiting.get(model) ?? 0) - (leasedByModel.get(model) ?? 0)));
  }

  private countCommitted(jobId: string): void {
    this.committedHere.set(jobId, (this.committedHere.get(jobId) ?? 0) + 1);
  }
}

function counts(total: number, succeeded: number, failed: number, cancelled: number, running = 0) {
  return { total, succeeded, failed, cancelled, running };
}

function imageInfo(job: JobRecord, t: TaskSpec, reason: FinishReason, error: string, workerId: string, sizeBytes: number, mimeType: string): ImageInfo {
  return {
    id: `${t.jobId}/${t.index}`, jobId: t.jobId, index: t.index, entryIndex: t.entryIndex, prompt: t.prompt,
    negativePrompt: t.negativePrompt, model: job.spec.model, params: t.params, finishReason: reason, error, workerId, sizeBytes, mimeType,
  };
}

function newJobId(): string {
  // Time-ordered prefix (so ids sort by creation) and 48 random bits.
  return `j${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}
