// The leases this coordinator's workers hold: which worker holds which task at
// which epoch, kept alive in the store while held, and handed back (or given
// up) when their worker goes. A result counts only for the lease it names.
import type { Logger } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import type { CoordinatorMetrics } from '../metrics.js';
import type { Store, StoredLease } from '../store/store.js';
import type { ResultCommitter } from './committer.js';
import { isFinished, type JobTable } from './job-table.js';
import type { StepProgress } from './progress.js';
import type { Timers } from './timers.js';
import type { HeldLease, WorkerSession } from './worker-session.js';

/** A worker may be lost this many times while holding an image before the image fails. */
const MAX_LEASE_LOSSES = 10;

export interface LeaseTableDeps {
  readonly store: Store;
  readonly jobs: JobTable;
  readonly progress: StepProgress;
  /** Gives up an image that lost too many workers. */
  readonly committer: ResultCommitter;
  readonly metrics: CoordinatorMetrics;
  readonly log: Logger;
  readonly timers: Timers;
  readonly leaseTtlMs: number;
}

export class LeaseTable {
  private readonly held = new Map<string, HeldLease>();

  constructor(private readonly d: LeaseTableDeps) {
    d.timers.every(Math.max(50, Math.floor(d.leaseTtlMs / 3)), () => { for (const l of this.held.values()) d.store.extendLease(l.stored); });
    d.jobs.onChange((job) => { if (job.state === JobState.CANCELLED) this.dropJob(job.id); });
  }

  get size(): number {
    return this.held.size;
  }

  values(): IterableIterator<HeldLease> {
    return this.held.values();
  }

  /** The worker now holds the task (and has one slot less). */
  hold(session: WorkerSession, stored: StoredLease): HeldLease {
    const t = stored.task;
    const taskId = `${t.jobId}/${t.index}`;
    const held: HeldLease = { taskId, session, stored, started: false };
    session.credit--;
    session.leases.set(taskId, held);
    this.held.set(taskId, held);
    this.d.metrics.tasksLeased.set(this.held.size);
    return held;
  }

  /** The lease the worker names, if it still holds it at that epoch; else its message is late or a duplicate. */
  current(session: WorkerSession, taskId: string, epoch: number): HeldLease | undefined {
    const held = this.held.get(taskId);
    return held !== undefined && held.session === session && held.stored.epoch === epoch ? held : undefined;
  }

  forget(lease: HeldLease): void {
    lease.session.leases.delete(lease.taskId);
    // The store may have leased the task again meanwhile (JetStream redelivers an expired lease): keep that one.
    if (this.held.get(lease.taskId) === lease) this.held.delete(lease.taskId);
    this.d.metrics.tasksLeased.set(this.held.size);
  }

  /** A lease ends without a result: the image waits again, unless it lost too many workers. */
  requeue(lease: HeldLease, reason: string, lost: boolean): void {
    const { store, metrics, log } = this.d;
    this.forget(lease);
    const task = lease.stored.task;
    this.d.progress.clear(task.jobId, task.index);
    const job = this.d.jobs.get(task.jobId);
    // Not known here (any more): every job a lease was taken for was active here, so it finished long ago.
    if (job === undefined || isFinished(job)) {
      store.completeLease(lease.stored).catch(() => undefined);
      return;
    }
    metrics.requeues.inc({ reason });
    if (lost && task.losses + 1 >= MAX_LEASE_LOSSES) {
      // A worker dying with an image is usually not the image's fault, so this
      // budget is larger than the failure budget; a poison image still ends.
      this.d.committer.failImage(lease.stored, `its worker was lost ${MAX_LEASE_LOSSES} times (last: ${reason})`, lease.session.id, 'worker_lost').catch((err: unknown) => log.error({ err }, 'failing image'));
      return;
    }
    store.returnLease(lease.stored, lost).catch((err: unknown) => log.error({ err, task: lease.taskId }, 'returning a lease failed'));
  }

  /** Leases of the job held here. */
  countOf(jobId: string): number {
    let n = 0;
    for (const l of this.held.values()) if (l.stored.task.jobId === jobId) n++;
    return n;
  }

  /** Tells workers to drop this coordinator's leases of a cancelled job. */
  private dropJob(jobId: string): void {
    const bySession = new Map<WorkerSession, string[]>();
    for (const l of [...this.held.values()]) {
      if (l.stored.task.jobId !== jobId) continue;
      this.held.delete(l.taskId);
      l.session.leases.delete(l.taskId);
      this.d.store.completeLease(l.stored).catch(() => undefined);
      bySession.set(l.session, [...(bySession.get(l.session) ?? []), l.taskId]);
    }
    for (const [session, taskIds] of bySession) session.link.send({ message: { $case: 'cancel', value: { taskIds } } });
  }
}
