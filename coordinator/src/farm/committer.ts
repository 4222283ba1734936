// How an image's work ends: a result is stored and committed exactly once, a
// failure is retried or given up, and a job ends once every image is
// committed. The caller (Workers) has checked the lease's epoch and taken it
// out of the lease table, so a concurrent duplicate is already dropped.
import type { Logger } from '@latentfarm/common';
import { FinishReason, JobState, type ImageInfo, type TaskFailure, type TaskResult } from '@latentfarm/proto';
import type { CoordinatorMetrics } from '../metrics.js';
import type { JobRecord, Store, StoredLease, TaskSpec } from '../store/store.js';
import type { Completions } from './completions.js';
import { counts, isFinished, type JobTable } from './job-table.js';
import type { Pricing } from './pricing.js';
import type { SharedImageReads } from './shared-image-reads.js';
import type { StepProgress } from './progress.js';
import type { Timers } from './timers.js';
import type { HeldLease } from './worker-session.js';

/** How often unfinished jobs are checked for completion besides after each commit. */
const FINISH_SWEEP_MS = 5_000;

export interface CommitterDeps {
  readonly store: Store;
  readonly jobs: JobTable;
  readonly progress: StepProgress;
  readonly pricing: Pricing;
  readonly completions: Completions;
  /** Committed images go here too, for this coordinator's watchers. */
  readonly images: Pick<SharedImageReads, 'committing'>;
  readonly metrics: CoordinatorMetrics;
  readonly log: Logger;
  readonly timers: Timers;
  /** Failures a task may report before it is given up. */
  readonly maxAttempts: number;
}

export class ResultCommitter {
  private readonly finishing = new Map<string, Promise<void>>();
  /** Jobs whose finishing check was asked for while one ran: it runs again, so no last commit goes unseen. */
  private readonly finishAgain = new Set<string>();

  constructor(private readonly d: CommitterDeps) {
    // A job whose last image was committed by a coordinator that died right after is finished by whoever looks next.
    d.timers.every(FINISH_SWEEP_MS, () => { for (const j of d.jobs.active()) this.checkFinished(j.id); });
  }

  /** Stores the image and commits its event; a commit someone made before wins and this one is dropped. */
  async commit(lease: HeldLease, r: TaskResult): Promise<void> {
    const { store, metrics } = this.d;
    const task = lease.stored.task;
    const job = await this.d.jobs.lookup(task.jobId);
    if (job === undefined || isFinished(job)) {
      await store.completeLease(lease.stored);
      return;
    }
    try {
      const image = { data: r.image, mimeType: r.mimeType };
      const info = imageInfo(job, task, FinishReason.SUCCESS, '', lease.session.id, r.image.length, r.mimeType);
      const commit = store.commitImage(task.jobId, task.index, info, image);
      this.d.images.committing(lease.taskId, image, commit.then((e) => e !== undefined));
      const event = await commit;
      await store.completeLease(lease.stored);
      if (event === undefined) {
        metrics.resultsDropped.inc();
        // Committed before (an earlier attempt whose answer was lost, or another coordinator): the job may be complete.
        this.checkFinished(task.jobId);
        return;
      }
    } catch (err) {
      this.d.log.error({ err, job: task.jobId, task: lease.taskId }, 'committing the result failed; the task waits again');
      await store.returnLease(lease.stored, false).catch(() => undefined);
      return;
    }
    this.d.progress.clear(task.jobId, task.index);
    this.d.jobs.countCommitted(task.jobId);
    lease.session.imagesCompleted++;
    this.d.completions.add();
    const credits = this.d.pricing.perImage(job.spec.model, task.params);
    metrics.imagesCompleted.inc({ model: job.spec.model });
    metrics.creditsSpent.inc({ model: job.spec.model }, credits);
    metrics.tenants.completed(job.owner, credits);
    metrics.imageLatency.observe({ model: job.spec.model }, (Date.now() - job.createdUnixMs) / 1000);
    this.checkFinished(task.jobId);
  }

  /** A worker reported a failure: the task waits again while it has attempts left, else its image fails. */
  async failure(lease: HeldLease, f: TaskFailure): Promise<void> {
    const task = lease.stored.task;
    const attempts = task.attempts + 1;
    this.d.log.warn({ worker: lease.session.id, job: task.jobId, task: lease.taskId, attempts, reason: f.reason }, 'task failed');
    if (f.retryable && attempts < this.d.maxAttempts) {
      this.d.metrics.requeues.inc({ reason: 'failure' });
      await this.d.store.retryLease(lease.stored, attempts);
    } else {
      await this.failImage(lease.stored, f.retryable ? `failed ${attempts} times; last error: ${f.reason}` : f.reason, lease.session.id, 'error');
    }
  }

  /** Commits the image as failed, for good; `kind` labels the failure metric. */
  async failImage(stored: StoredLease, reason: string, workerId: string, kind: string): Promise<void> {
    const { store } = this.d;
    const task = stored.task;
    const job = await this.d.jobs.lookup(task.jobId);
    if (job === undefined) return;
    const event = await store.commitImage(task.jobId, task.index, imageInfo(job, task, FinishReason.ERROR, reason, workerId, 0, ''));
    await store.completeLease(stored);
    if (event === undefined) return;
    await store.deadLetter(task, reason);
    this.d.jobs.countCommitted(task.jobId);
    this.d.progress.clear(task.jobId, task.index);
    this.d.metrics.imagesFailed.inc({ model: job.spec.model, reason: kind });
    this.d.metrics.tenants.failed(job.owner);
    this.checkFinished(task.jobId);
  }

  /** Ends the job once every image is committed. Serialized per job; safe to call often and from any coordinator. */
  checkFinished(jobId: string): void {
    if (this.finishing.has(jobId)) {
      this.finishAgain.add(jobId);
      return;
    }
    const { store, jobs } = this.d;
    const run = (async () => {
      const job = jobs.get(jobId);
      if (job === undefined || isFinished(job)) return;
      const c = await store.counts(jobId);
      if (c.succeeded + c.failed < job.total) return;
      const state = c.failed === 0 ? JobState.SUCCEEDED : c.succeeded === 0 ? JobState.FAILED : JobState.PARTIAL;
      await store.appendState(jobId, { kind: 'state', state, counts: counts(job.total, c.succeeded, c.failed, 0), reason: '' }, 'end');
      const changed = await store.updateJob(jobId, (j) => (isFinished(j) ? undefined : { ...j, state, finishedUnixMs: Date.now() }));
      if (changed !== undefined) {
        jobs.apply(changed);
        this.d.log.info({ job: jobId, state: JobState[state], succeeded: c.succeeded, failed: c.failed }, 'job finished');
      }
    })().catch((err: unknown) => this.d.log.error({ err, job: jobId }, 'finishing check failed'));
    this.finishing.set(jobId, run);
    void run.finally(() => {
      this.finishing.delete(jobId);
      if (this.finishAgain.delete(jobId)) this.checkFinished(jobId);
    });
  }

  /** Finishing checks under way; empty when none. */
  pending(): Promise<void>[] {
    return [...this.finishing.values()];
  }
}

function imageInfo(job: JobRecord, t: TaskSpec, reason: FinishReason, error: string, workerId: string, sizeBytes: number, mimeType: string): ImageInfo {
  return {
    id: `${t.jobId}/${t.index}`, jobId: t.jobId, index: t.index, entryIndex: t.entryIndex, prompt: t.prompt,
    negativePrompt: t.negativePrompt, model: job.spec.model, params: t.params, finishReason: reason, error, workerId, sizeBytes, mimeType,
  };
}
