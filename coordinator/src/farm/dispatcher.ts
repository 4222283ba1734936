// Fills every worker's credit from the store, in the order a fair-share
// policy picks (given from outside: the coordinator passes TenantShare),
// one batch group per lease message where it can. The dispatch
// knobs live here: how many tasks one store call takes, how long a job with
// nothing to lease is skipped, and sticking to a worker's batch group.
import type { Logger } from '@latentfarm/common';
import { batchGroupKey, type Task } from '@latentfarm/proto';
import { jobBatchGroup, priorityWeight, type Defaults } from '../jobs/params.js';
import type { CoordinatorMetrics } from '../metrics.js';
import type { SharePolicy } from '../scheduling/share-policy.js';
import type { JobRecord, Store, StoredLease } from '../store/store.js';
import { isFinished, type JobTable } from './job-table.js';
import type { LeaseTable } from './lease-table.js';
import type { Timers } from './timers.js';
import type { HeldLease, WorkerSession } from './worker-session.js';

/** Most tasks taken from the store in one go. */
export const MAX_LEASE_BATCH = 64;
/** How long a job that had nothing to lease is skipped (unless the store says otherwise). */
export const DRY_MS = 500;

export interface DispatcherDeps {
  readonly policy: SharePolicy;
  readonly store: Store;
  readonly jobs: JobTable;
  readonly leases: LeaseTable;
  /** The connected workers, by id (Workers keeps it). */
  readonly sessions: ReadonlyMap<string, WorkerSession>;
  readonly defaults: Defaults;
  readonly metrics: CoordinatorMetrics;
  readonly log: Logger;
  readonly timers: Timers;
}

export class Dispatcher {
  private dispatching = false;
  private dispatchAgain = false;
  /** Called once no dispatch is running or due (see whenIdle()). */
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly d: DispatcherDeps) {
    d.store.onTasksWaiting((id) => {
      d.policy.wake(id);
      this.schedule();
    });
    // Dry jobs wake by time too: tasks another coordinator hands back do not notify us.
    d.timers.every(DRY_MS, () => this.schedule());
    d.jobs.onChange((job) => {
      if (isFinished(job)) d.policy.remove(job.id);
      else this.admit(job);
    });
  }

  /** Runs a dispatch soon; one at a time, and one more if asked while one runs. */
  schedule(): void {
    if (this.dispatching) {
      this.dispatchAgain = true;
      return;
    }
    this.dispatching = true;
    setImmediate(() => {
      this.dispatch().catch((err: unknown) => this.d.log.error({ err }, 'dispatch failed')).finally(() => {
        this.dispatching = false;
        if (this.dispatchAgain) {
          this.dispatchAgain = false;
          this.schedule();
        } else {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    });
  }

  /** Resolves once no dispatch is running or due; undefined when none is now. */
  whenIdle(): Promise<void> | undefined {
    if (!this.dispatching) return undefined;
    return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** An unfinished job the policy does not know yet takes part from now on. */
  private admit(job: JobRecord): void {
    const { policy, defaults } = this.d;
    if (policy.has(job.id)) return;
    policy.add(job.id, job.spec.model, jobBatchGroup(job.spec, defaults), priorityWeight(job.spec.priority), job.owner);
    this.schedule();
  }

  private async dispatch(): Promise<void> {
    const { store, policy, sessions } = this.d;
    if (!store.healthy()) return;
    for (const session of [...sessions.values()]) {
      let group: string | undefined;
      while (session.credit > 0 && !session.draining && sessions.get(session.id) === session) {
        const now = Date.now();
        const serves = (j: { model: string }) => session.models.has(j.model);
        // Stay on the group this worker was just given while it has work, so its batch stays one shape.
        const job = (group !== undefined ? policy.pick((j) => serves(j) && j.group === group, now) : undefined) ?? policy.pick(serves, now);
        if (job === undefined) break;
        const want = Math.min(session.credit, MAX_LEASE_BATCH);
        const stored = await store.leaseTasks(job.id, want);
        if (stored.length < want) policy.markDry(job.id, Date.now() + DRY_MS);
        if (stored.length === 0) continue;
        policy.charge(job.id, stored.length);
        await this.d.jobs.markRunning(job.id);
        if (sessions.get(session.id) !== session) {
          // The worker left while we were taking its tasks: they wait again.
          for (const s of stored) await store.returnLease(s, false);
          break;
        }
        // The images just leased, not the job's spec, say the group: entries may set their own sizes.
        group = batchGroupKey(job.model, (stored[stored.length - 1] as StoredLease).task.params);
        const tasks = stored.map((s) => this.task(this.d.leases.hold(session, s)));
        session.link.send({ message: { $case: 'lease', value: { tasks } } });
      }
    }
  }

  /** The lease as the worker gets it. */
  private task(held: HeldLease): Task {
    const t = held.stored.task;
    const job = this.d.jobs.get(t.jobId);
    if (job !== undefined) this.d.metrics.queueWait.observe((Date.now() - job.createdUnixMs) / 1000);
    return {
      taskId: held.taskId, epoch: held.stored.epoch, jobId: t.jobId, model: job?.spec.model ?? '',
      prompt: t.prompt, negativePrompt: t.negativePrompt, params: t.params,
    };
  }
}
