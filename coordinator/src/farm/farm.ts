// The coordinator's heart: jobs, the queue, and the leases held by workers.
// gRPC handlers call into it; it calls the store for what must be kept.
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError, UnavailableError, type Logger } from '@latentfarm/common';
import {
  FinishReason, JobState, ImageFormat,
  type GetFarmStatusResponse, type Hello, type ImageInfo, type Job, type JobSpec, type ListJobsRequest,
  type PromptEntry, type Task, type TaskFailure, type TaskResult, type TaskStep,
} from '@latentfarm/proto';
import type { CoordinatorConfig } from '../config.js';
import { imageCredits, type CostModel } from '../jobs/cost.js';
import { ImageStatus, JobRecord } from '../jobs/job.js';
import { priorityWeight, resolveParams, validateEntry, validateSpec, type Defaults, type Limits } from '../jobs/params.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { FairQueue } from '../scheduling/fair-queue.js';
import type { FarmEvent, Store } from '../store/store.js';
import { Throughput } from './throughput.js';
import { WorkerSession, type Lease, type WorkerLink } from './worker-session.js';

const MAX_LEASE_LOSSES = 10;
const MIME_BY_FORMAT: Record<number, string> = {
  [ImageFormat.PNG]: 'image/png', [ImageFormat.WEBP]: 'image/webp', [ImageFormat.JPEG]: 'image/jpeg',
};

export interface Progress {
  step: number;
  total: number;
}

export class Farm {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly jobOrder: JobRecord[] = [];
  private readonly queue = new FairQueue();
  private readonly sessions = new Map<string, WorkerSession>();
  private readonly leaseByTask = new Map<string, { session: WorkerSession; lease: Lease }>();
  /** Latest step of running images, per job: what watchers show as progress. */
  readonly progress = new Map<string, Map<number, Progress>>();
  /** When each waiting image entered the queue, for the queue-wait histogram (sampled per job). */
  private readonly queuedAtMs = new Map<string, number>();
  private readonly throughput = new Throughput();
  private nextEpoch = 1;
  private imagesCompleted = 0;
  private dispatchScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;
  readonly limits: Limits;
  readonly defaults: Defaults;
  readonly cost: CostModel;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly store: Store,
    private readonly metrics: CoordinatorMetrics,
    private readonly log: Logger,
  ) {
    this.limits = {
      maxPromptChars: config.maxPromptChars, maxWidth: config.maxWidth, maxHeight: config.maxHeight,
      maxSteps: config.maxSteps, maxCfgScale: config.maxCfgScale, maxImagesPerEntry: config.maxImagesPerJob,
    };
    this.defaults = { width: config.defaultWidth, height: config.defaultHeight, steps: config.defaultSteps, cfgScale: config.defaultCfgScale };
    this.cost = { basePixels: config.costBasePixels, baseSteps: config.costBaseSteps, minCredits: config.costMinCredits };
    this.sweepTimer = setInterval(() => this.sweepLeases(), Math.max(50, Math.floor(config.leaseTtlMs / 4)));
    this.sweepTimer.unref();
  }

  close(): void {
    clearInterval(this.sweepTimer);
    for (const s of [...this.sessions.values()]) this.dropWorker(s, 'shutdown');
  }

  // ---- jobs -------------------------------------------------------------

  isKnownModel = (model: string): boolean => {
    if (this.config.models.includes(model)) return true;
    for (const s of this.sessions.values()) if (s.models.has(model)) return true;
    return false;
  };

  /** Validates a whole submission; throws InvalidArgumentError naming the field. */
  validate(spec: JobSpec | undefined, entries: readonly PromptEntry[], firstIndex = 0): JobSpec {
    const s = validateSpec(spec, this.limits, this.isKnownModel);
    entries.forEach((e, i) => validateEntry(e, firstIndex + i, this.limits));
    return s;
  }

  async submit(specIn: JobSpec | undefined, entries: readonly PromptEntry[]): Promise<{ job: Job; created: boolean }> {
    const spec = this.validate(specIn, entries);
    if (entries.length === 0) throw new InvalidArgumentError('entries', 'empty: a job needs at least one prompt');
    let total = 0;
    for (const e of entries) total += e.images || 1;
    if (total > this.config.maxImagesPerJob) {
      throw new InvalidArgumentError('entries', `${total} images in one job, at most ${this.config.maxImagesPerJob} allowed: split it into several jobs`);
    }
    const id = newJobId();
    if (spec.idempotencyKey !== '') {
      const holder = await this.store.claimIdempotencyKey(spec.idempotencyKey, id);
      if (holder !== id) {
        const existing = this.jobs.get(holder);
        if (existing === undefined) throw new UnavailableError(`the job for idempotency key "${spec.idempotencyKey}" is still being created; retry`);
        return { job: existing.toProto(), created: false };
      }
    }
    if (this.queue.size + total > this.config.maxQueuedImages) {
      throw new ResourceExhaustedError(`the farm queue is full (${this.queue.size} images waiting, limit ${this.config.maxQueuedImages}); retry later or submit fewer images`);
    }
    const seed = spec.params?.seed ?? randomBytes(4).readUInt32LE(0);
    let credits = 0;
    for (const e of entries) {
      const p = resolveParams(spec.params, e.overrides, this.defaults, 0);
      credits += (e.images || 1) * imageCredits(this.cost, p.width, p.height, p.steps);
    }
    const job = new JobRecord(id, spec, entries, seed, Date.now(), credits, this.defaults);
    this.jobs.set(id, job);
    this.jobOrder.push(job);
    this.emitState(job, '');
    const first = job.task(0).params;
    this.queue.add(id, spec.model, priorityWeight(spec.priority), total, `${spec.model}:${first.width}x${first.height}`);
    this.queuedAtMs.set(id, Date.now());
    this.metrics.jobsSubmitted.inc();
    this.metrics.imagesSubmitted.inc({ model: spec.model }, total);
    this.metrics.activeJobs.inc();
    this.updateQueueGauges();
    this.log.info({ job: id, images: total, prompts: entries.length, model: spec.model, priority: spec.priority }, 'job accepted');
    this.scheduleDispatch();
    return { job: job.toProto(), created: true };
  }

  job(id: string): JobRecord {
    const job = this.jobs.get(id);
    if (job === undefined) throw new NotFoundError(`job "${id}" does not exist`);
    return job;
  }

  list(req: ListJobsRequest): { jobs: Job[]; nextPageToken: string } {
    const size = req.pageSize === 0 ? 50 : Math.min(req.pageSize, 1000);
    let start = this.jobOrder.length - 1;
    if (req.pageToken !== '') {
      start = Number(req.pageToken);
      if (!Number.isInteger(start) || start < 0 || start >= this.jobOrder.length) {
        throw new InvalidArgumentError('page_token', `"${req.pageToken}" is not a token this server gave out`);
      }
    }
    const states = new Set(req.states);
    const labels = Object.entries(req.labels);
    const out: Job[] = [];
    let i = start;
    for (; i >= 0 && out.length < size; i--) {
      const j = this.jobOrder[i] as JobRecord;
      if (states.size > 0 && !states.has(j.state)) continue;
      if (labels.some(([k, v]) => j.spec.labels[k] !== v)) continue;
      out.push(j.toProto());
    }
    return { jobs: out, nextPageToken: i >= 0 ? String(i) : '' };
  }

  cancel(id: string): Job {
    const job = this.job(id);
    if (job.finished) return job.toProto();
    this.queue.remove(id);
    const bySession = new Map<WorkerSession, string[]>();
    for (let i = 0; i < job.total; i++) {
      const s = job.status[i];
      if (s === ImageStatus.Leased) {
        const held = this.leaseByTask.get(job.imageId(i));
        if (held !== undefined) {
          this.releaseLease(held.session, held.lease);
          bySession.set(held.session, [...(bySession.get(held.session) ?? []), held.lease.taskId]);
        }
      }
      if (s === ImageStatus.Pending || s === ImageStatus.Leased) job.setStatus(i, ImageStatus.Cancelled);
    }
    for (const [session, taskIds] of bySession) session.link.send({ message: { $case: 'cancel', value: { taskIds } } });
    this.metrics.imagesCancelled.inc(job.counts.cancelled);
    this.finishJob(job, 'cancelled by request');
    this.updateQueueGauges();
    this.log.info({ job: id }, 'job cancelled');
    return job.toProto();
  }

  imageInfo(job: JobRecord, index: number, event?: Extract<FarmEvent, { kind: 'image' }>): ImageInfo {
    const t = job.task(index);
    const status = job.status[index];
    const reason = event?.reason ?? (status === ImageStatus.Succeeded ? FinishReason.SUCCESS
      : status === ImageStatus.Failed ? FinishReason.ERROR
        : status === ImageStatus.Cancelled ? FinishReason.CANCELLED : FinishReason.UNSPECIFIED);
    return {
      id: job.imageId(index), jobId: job.id, index, entryIndex: t.entryIndex, prompt: t.prompt,
      negativePrompt: t.negativePrompt, model: job.spec.model, params: t.params, finishReason: reason,
      error: event?.error ?? '', workerId: event?.workerId ?? '', sizeBytes: event?.sizeBytes ?? 0,
      mimeType: event?.mimeType ?? MIME_BY_FORMAT[t.params.outputFormat] ?? 'image/png',
    };
  }

  status(): GetFarmStatusResponse {
    const models = new Map<string, number>();
    for (const m of this.config.models) models.set(m, 0);
    for (const s of this.sessions.values()) for (const m of s.models) models.set(m, (models.get(m) ?? 0) + 1);
    return {
      workers: [...this.sessions.values()].map((s) => ({
        id: s.id, models: s.hello.models, maxBatch: s.hello.maxBatch, provider: s.hello.provider, device: s.hello.device,
        engine: s.hello.engine, leased: s.leases.size, imagesCompleted: s.imagesCompleted, connectedUnixMs: s.connectedUnixMs,
        draining: s.draining,
      })),
      models: [...models].map(([name, workers]) => ({ name, workers })),
      queuedImages: this.queue.size,
      leasedImages: this.leaseByTask.size,
      activeJobs: this.jobOrder.filter((j) => !j.finished).length,
      imagesPerSecond: this.throughput.perSecond(),
      imagesCompleted: this.imagesCompleted,
    };
  }

  // ---- workers ----------------------------------------------------------

  attachWorker(hello: Hello, link: WorkerLink): WorkerSession {
    const old = this.sessions.get(hello.workerId);
    if (old !== undefined) this.dropWorker(old, 'replaced');
    const session = new WorkerSession(hello, link);
    this.sessions.set(session.id, session);
    this.metrics.workersConnected.set(this.sessions.size);
    link.send({ message: { $case: 'welcome', value: { heartbeatIntervalMs: this.config.heartbeatMs, leaseTtlMs: this.config.leaseTtlMs } } });
    this.log.info({ worker: session.id, models: hello.models, maxBatch: hello.maxBatch, provider: hello.provider }, 'worker connected');
    return session;
  }

  /** The worker is gone (stream ended, lease lapsed): its leases go back to the queue. */
  dropWorker(session: WorkerSession, reason: string): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.metrics.workersConnected.set(this.sessions.size);
    const leases = [...session.leases.values()];
    for (const lease of leases) this.requeue(session, lease, reason, true);
    session.link.close();
    this.log.info({ worker: session.id, reason, requeued: leases.length }, 'worker disconnected');
    this.scheduleDispatch();
  }

  grantCredit(session: WorkerSession, slots: number): void {
    session.lastSeenMs = Date.now();
    session.credit += slots;
    this.scheduleDispatch();
  }

  heartbeat(session: WorkerSession, busyRatio: number): void {
    session.lastSeenMs = Date.now();
    session.busyRatio = busyRatio;
  }

  /** Worker hands tasks back without a failure (drain). */
  release(session: WorkerSession, taskIds: readonly string[], epochs: readonly number[]): void {
    session.lastSeenMs = Date.now();
    taskIds.forEach((taskId, i) => {
      const lease = this.currentLease(session, taskId, epochs[i] ?? -1);
      if (lease !== undefined) this.requeue(session, lease, 'released', false);
    });
    this.scheduleDispatch();
  }

  drain(session: WorkerSession): void {
    session.draining = true;
    session.link.send({ message: { $case: 'drain', value: {} } });
  }

  recordProgress(session: WorkerSession, steps: readonly TaskStep[]): void {
    session.lastSeenMs = Date.now();
    for (const s of steps) {
      const lease = this.currentLease(session, s.taskId, s.epoch);
      if (lease === undefined) continue;
      let m = this.progress.get(lease.jobId);
      if (m === undefined) this.progress.set(lease.jobId, (m = new Map()));
      m.set(lease.index, { step: s.step, total: s.totalSteps });
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
    const job = this.jobs.get(lease.jobId);
    // The lease leaves the table now, so a concurrent duplicate is dropped while we store.
    this.releaseLease(session, lease);
    if (job === undefined || job.status[lease.index] !== ImageStatus.Leased) return;
    try {
      await this.store.putImage(lease.taskId, { data: r.image, mimeType: r.mimeType });
    } catch (err) {
      this.log.error({ err, job: job.id, task: lease.taskId }, 'storing image failed; requeued');
      this.putBack(job, lease.index, 'store_error');
      return;
    }
    if (job.status[lease.index] !== ImageStatus.Leased) return; // cancelled while storing
    job.setStatus(lease.index, ImageStatus.Succeeded);
    this.progress.get(job.id)?.delete(lease.index);
    const t = job.task(lease.index).params;
    const credits = imageCredits(this.cost, t.width, t.height, t.steps);
    job.spentCredits += credits;
    session.imagesCompleted++;
    this.imagesCompleted++;
    this.throughput.add();
    this.metrics.imagesCompleted.inc({ model: job.spec.model });
    this.metrics.creditsSpent.inc({ model: job.spec.model }, credits);
    this.metrics.imageLatency.observe({ model: job.spec.model }, (Date.now() - job.createdUnixMs) / 1000);
    this.emitImage(job, lease.index, FinishReason.SUCCESS, '', session.id, r.image.length, r.mimeType);
    this.finishJobIfDone(job);
  }

  acceptFailure(session: WorkerSession, f: TaskFailure): void {
    session.lastSeenMs = Date.now();
    const lease = this.currentLease(session, f.taskId, f.epoch);
    if (lease === undefined) {
      this.metrics.resultsDropped.inc();
      return;
    }
    const job = this.jobs.get(lease.jobId);
    this.releaseLease(session, lease);
    if (job === undefined || job.status[lease.index] !== ImageStatus.Leased) return;
    const attempts = (job.attempts[lease.index] ?? 0) + 1;
    job.attempts[lease.index] = attempts;
    this.log.warn({ worker: session.id, job: job.id, task: lease.taskId, attempts, reason: f.reason }, 'task failed');
    if (f.retryable && attempts < this.config.maxAttempts) {
      this.putBack(job, lease.index, 'failure');
    } else {
      const why = f.retryable ? `failed ${attempts} times; last error: ${f.reason}` : f.reason;
      this.failImage(job, lease.index, why, session.id);
    }
    this.scheduleDispatch();
  }

  // ---- leasing ----------------------------------------------------------

  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /** Fills every worker's credit from the fair queue, keeping each lease message to one batch group. */
  private dispatch(): void {
    if (this.queue.size === 0) return;
    for (const session of this.sessions.values()) {
      if (session.draining || session.credit <= 0) continue;
      const tasks: Task[] = [];
      let group: string | undefined;
      while (session.credit > 0) {
        const serves = (j: { model: string }) => session.models.has(j.model);
        const next = (group !== undefined ? this.queue.take((j) => serves(j) && j.group === group) : undefined) ?? this.queue.take(serves);
        if (next === undefined) break;
        const job = this.jobs.get(next.jobId);
        if (job === undefined || job.status[next.index] !== ImageStatus.Pending) continue;
        group ??= `${job.spec.model}:${job.task(next.index).params.width}x${job.task(next.index).params.height}`;
        tasks.push(this.lease(session, job, next.index));
      }
      if (tasks.length > 0) session.link.send({ message: { $case: 'lease', value: { tasks } } });
      if (this.queue.size === 0) break;
    }
    this.updateQueueGauges();
  }

  private lease(session: WorkerSession, job: JobRecord, index: number): Task {
    const t = job.task(index);
    const lease: Lease = { taskId: job.imageId(index), jobId: job.id, index, epoch: this.nextEpoch++ };
    session.credit--;
    session.leases.set(lease.taskId, lease);
    this.leaseByTask.set(lease.taskId, { session, lease });
    job.setStatus(index, ImageStatus.Leased);
    const queuedAt = this.queuedAtMs.get(job.id);
    if (queuedAt !== undefined) this.metrics.queueWait.observe((Date.now() - queuedAt) / 1000);
    if (job.state === JobState.QUEUED) {
      job.state = JobState.RUNNING;
      job.startedUnixMs = Date.now();
      this.emitState(job, '');
    }
    return {
      taskId: lease.taskId, epoch: lease.epoch, jobId: job.id, model: job.spec.model,
      prompt: t.prompt, negativePrompt: t.negativePrompt, params: t.params,
    };
  }

  private currentLease(session: WorkerSession, taskId: string, epoch: number): Lease | undefined {
    const held = this.leaseByTask.get(taskId);
    return held !== undefined && held.session === session && held.lease.epoch === epoch ? held.lease : undefined;
  }

  private releaseLease(session: WorkerSession, lease: Lease): void {
    session.leases.delete(lease.taskId);
    this.leaseByTask.delete(lease.taskId);
  }

  /** A lease ends without a result: the image waits again, unless the job is gone or it lost too many leases. */
  private requeue(session: WorkerSession, lease: Lease, reason: string, lost: boolean): void {
    this.releaseLease(session, lease);
    const job = this.jobs.get(lease.jobId);
    if (job === undefined || job.status[lease.index] !== ImageStatus.Leased) return;
    this.progress.get(job.id)?.delete(lease.index);
    if (lost) {
      // A worker that dies holding an image is usually not the image's fault, so
      // this has its own, larger budget than reported failures; a poison image
      // that kills every worker still ends.
      const losses = (job.losses[lease.index] ?? 0) + 1;
      job.losses[lease.index] = losses;
      if (losses >= MAX_LEASE_LOSSES) {
        this.failImage(job, lease.index, `its worker was lost ${MAX_LEASE_LOSSES} times (last: ${reason})`, session.id);
        return;
      }
    }
    this.putBack(job, lease.index, reason);
  }

  private putBack(job: JobRecord, index: number, reason: string): void {
    job.setStatus(index, ImageStatus.Pending);
    const t = job.task(0).params;
    this.queue.requeue(job.id, job.spec.model, priorityWeight(job.spec.priority), index, `${job.spec.model}:${t.width}x${t.height}`);
    this.metrics.requeues.inc({ reason });
    this.scheduleDispatch();
  }

  private sweepLeases(): void {
    const deadline = Date.now() - this.config.leaseTtlMs;
    for (const s of [...this.sessions.values()]) if (s.lastSeenMs < deadline) this.dropWorker(s, 'lease_expired');
    this.updateQueueGauges();
  }

  // ---- events -----------------------------------------------------------

  private failImage(job: JobRecord, index: number, reason: string, workerId: string): void {
    job.setStatus(index, ImageStatus.Failed);
    this.progress.get(job.id)?.delete(index);
    this.metrics.imagesFailed.inc({ model: job.spec.model, reason: reason.startsWith('its worker was lost') ? 'worker_lost' : 'error' });
    this.emitImage(job, index, FinishReason.ERROR, reason, workerId, 0, '');
    this.finishJobIfDone(job);
  }

  private emitImage(job: JobRecord, index: number, reason: FinishReason, error: string, workerId: string, sizeBytes: number, mimeType: string): void {
    const e = this.store.appendEvent(job.id, { kind: 'image', index, reason, error, workerId, sizeBytes, mimeType });
    job.lastSequence = e.seq;
  }

  private emitState(job: JobRecord, reason: string): void {
    const e = this.store.appendEvent(job.id, { kind: 'state', state: job.state, counts: { ...job.counts }, reason });
    job.lastSequence = e.seq;
  }

  private finishJobIfDone(job: JobRecord): void {
    if (!job.finished && job.done === job.total) this.finishJob(job, '');
  }

  private finishJob(job: JobRecord, reason: string): void {
    job.state = job.finalState();
    job.finishedUnixMs = Date.now();
    this.progress.delete(job.id);
    this.queuedAtMs.delete(job.id);
    this.metrics.activeJobs.dec();
    this.emitState(job, reason);
    this.log.info({ job: job.id, state: JobState[job.state], counts: job.counts }, 'job finished');
  }

  private updateQueueGauges(): void {
    this.metrics.tasksQueued.reset();
    for (const [model, n] of this.queue.pendingByModel()) this.metrics.tasksQueued.set({ model }, n);
    this.metrics.tasksLeased.set(this.leaseByTask.size);
  }
}

function newJobId(): string {
  // Time-ordered prefix (so ids sort by creation) and 48 random bits.
  return `j${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}
