// The jobs this coordinator knows (every active one, plus the last
// FINISHED_KEPT finished ones; older ones are read from the store), kept
// current from the store's change feed, and who may see which. Other parts subscribe to changes instead of being called from here,
// so a new reaction to a job change does not edit this file.
import { NotFoundError } from '@latentfarm/common';
import { JobState, type ImageCounts } from '@latentfarm/proto';
import type { CoordinatorMetrics } from '../metrics.js';
import type { JobRecord, Store } from '../store/store.js';
import { maySee, type Principal } from './principal.js';

const TERMINAL = new Set<JobState>([JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED]);

export const isTerminal = (state: JobState): boolean => TERMINAL.has(state);
export const isFinished = (j: JobRecord): boolean => isTerminal(j.state);

export function counts(total: number, succeeded: number, failed: number, cancelled: number, running = 0): ImageCounts {
  return { total, succeeded, failed, cancelled, running };
}

/** Called with the new record and the one known before (undefined: first seen). */
export type JobChangeListener = (job: JobRecord, before: JobRecord | undefined) => void;

/**
 * Finished jobs kept in memory after their end, newest first out of the door last: a watcher or a late result of
 * a job that just ended finds it here; beyond these, memory would grow with every job ever run.
 */
export const FINISHED_KEPT = 1_000;

export class JobTable {
  private readonly jobs = new Map<string, JobRecord>();
  /** Ids of the finished jobs in `jobs`, oldest first. */
  private readonly finished = new Set<string>();
  /** Images each job has committed through this coordinator, for the queue estimate. */
  private readonly committedHere = new Map<string, number>();
  private readonly listeners: JobChangeListener[] = [];

  constructor(private readonly store: Store, private readonly metrics: CoordinatorMetrics) {
    store.onJobChange((job) => this.apply(job));
    // An expired job is gone from the store: GetJob and ListJobs must not find it here either.
    store.onJobExpired((id) => this.forget(id));
  }

  private forget(id: string): void {
    this.jobs.delete(id);
    this.committedHere.delete(id);
  }

  onChange(listener: JobChangeListener): void {
    this.listeners.push(listener);
  }

  /** A job record changed, here or on another coordinator. */
  apply(job: JobRecord): void {
    const before = this.jobs.get(job.id);
    this.jobs.set(job.id, job);
    if (isFinished(job)) {
      this.committedHere.delete(job.id);
      if (before !== undefined && !isFinished(before)) this.metrics.activeJobs.dec();
    } else if (before === undefined) {
      this.metrics.activeJobs.inc();
    }
    for (const l of this.listeners) l(job, before);
    if (isFinished(job)) this.keepFinished(job.id);
  }

  private keepFinished(id: string): void {
    this.finished.delete(id);
    this.finished.add(id);
    if (this.finished.size <= FINISHED_KEPT) return;
    const oldest = this.finished.values().next().value as string;
    this.finished.delete(oldest);
    this.jobs.delete(oldest);
  }

  /** Reads the store's unfinished jobs (a restarted coordinator resumes them), calling `resumed` for each. */
  async resume(resumed: (job: JobRecord) => void): Promise<void> {
    for (const id of await this.store.listJobIds()) {
      const job = await this.store.getJob(id);
      if (job !== undefined && !isFinished(job)) {
        this.apply(job);
        resumed(job);
      }
    }
  }

  /** The job as last seen here, without asking the store: every active job; a finished one only for a while. */
  get(id: string): JobRecord | undefined {
    return this.jobs.get(id);
  }

  /** The job, from here or from the store (another coordinator may have made it). */
  async lookup(id: string): Promise<JobRecord | undefined> {
    return this.jobs.get(id) ?? (await this.store.getJob(id));
  }

  /**
   * The job as `principal` may see it; NOT_FOUND otherwise. Every job a
   * client names goes through here: another tenant's job reads exactly like
   * one that does not exist, so ids cannot be probed.
   */
  async find(principal: Principal, id: string): Promise<JobRecord> {
    const job = await this.lookup(id);
    if (job === undefined || !maySee(principal, job.owner)) throw new NotFoundError(`job "${id}" does not exist`);
    return job;
  }

  active(): JobRecord[] {
    return [...this.jobs.values()].filter((j) => !isFinished(j));
  }

  /** The first lease of a queued job starts it. */
  async markRunning(jobId: string): Promise<void> {
    const job = this.jobs.get(jobId);
    if (job === undefined || job.state !== JobState.QUEUED) return;
    const changed = await this.store.updateJob(jobId, (j) => (j.state === JobState.QUEUED ? { ...j, state: JobState.RUNNING, startedUnixMs: Date.now() } : undefined));
    if (changed === undefined) return;
    this.apply(changed);
    await this.store.appendState(jobId, { kind: 'state', state: JobState.RUNNING, counts: counts(changed.total, 0, 0, 0), reason: '' }, 'running');
  }

  countCommitted(jobId: string): void {
    this.committedHere.set(jobId, (this.committedHere.get(jobId) ?? 0) + 1);
  }

  /** Images not yet committed, per `key` of their job (e.g. its model; exact with one coordinator, an upper bound with several). */
  waitingBy(key: (job: JobRecord) => string): Map<string, number> {
    const out = new Map<string, number>();
    for (const j of this.jobs.values()) {
      if (isFinished(j)) continue;
      const k = key(j);
      out.set(k, (out.get(k) ?? 0) + j.total - (this.committedHere.get(j.id) ?? 0));
    }
    return out;
  }

  /** Images of `owner`'s jobs not yet committed (exact with one coordinator, an upper bound with several). */
  waitingImagesOf(owner: string): number {
    let n = 0;
    for (const j of this.jobs.values()) if (!isFinished(j) && j.owner === owner) n += j.total - (this.committedHere.get(j.id) ?? 0);
    return n;
  }

  /** `owner`'s jobs not yet finished, as far as this coordinator has heard. */
  activeJobsOf(owner: string): number {
    let n = 0;
    for (const j of this.jobs.values()) if (!isFinished(j) && j.owner === owner) n++;
    return n;
  }

  waitingImages(): number {
    let n = 0;
    for (const j of this.jobs.values()) if (!isFinished(j)) n += j.total - (this.committedHere.get(j.id) ?? 0);
    return n;
  }
}
