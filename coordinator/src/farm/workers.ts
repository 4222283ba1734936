// The workers connected to this coordinator and what their streams say:
// hello, credit, heartbeats, step progress, results, failures and releases.
// Each message is checked against the lease it names (epoch fence) and handed
// on: results and failures to the committer, lost leases back to the queue.
// A worker is held to what it declared: its credit is capped, its results
// must be the images leased, and one that keeps vanishing with leases or
// sending bad results is quarantined (quarantine.ts).
import { AlreadyExistsError, PermissionDeniedError, type Logger } from '@latentfarm/common';
import type { Hello, TaskFailure, TaskResult, TaskStep } from '@latentfarm/proto';
import type { CoordinatorMetrics } from '../metrics.js';
import type { ResultCommitter } from './committer.js';
import type { Dispatcher } from './dispatcher.js';
import { checkHello, creditCap } from './hello-check.js';
import type { LeaseTable } from './lease-table.js';
import type { ModelRegistry } from './model-registry.js';
import type { Principal } from './principal.js';
import type { StepProgress } from './progress.js';
import { quarantineKey, WorkerQuarantinedError, type Quarantine } from './quarantine.js';
import { resultProblem } from './result-check.js';
import type { Timers } from './timers.js';
import { WorkerSession, type HeldLease, type WorkerLink } from './worker-session.js';

/** Ways a worker goes that mean it vanished (crash, network, silence), as opposed to being replaced or shut down. */
const VANISHED = new Set(['disconnected', 'stream_error', 'cancelled', 'lease_expired']);

export interface WorkersDeps {
  /** Written here only; the dispatcher and the status read it. */
  readonly sessions: Map<string, WorkerSession>;
  readonly leases: LeaseTable;
  readonly committer: ResultCommitter;
  readonly dispatcher: Dispatcher;
  readonly progress: StepProgress;
  readonly models: ModelRegistry;
  readonly metrics: CoordinatorMetrics;
  readonly log: Logger;
  readonly timers: Timers;
  readonly heartbeatMs: number;
  /** A worker silent this long is dropped and its leases go back to wait. */
  readonly leaseTtlMs: number;
  readonly quarantine: Quarantine;
  readonly maxIdChars: number;
  /** Farm-wide cap on one worker's held tasks plus credit (--max-worker-credit). */
  readonly maxWorkerCredit: number;
  /** Largest result accepted (--max-result-bytes). */
  readonly maxResultBytes: number;
}

export class Workers {
  constructor(private readonly d: WorkersDeps) {
    d.timers.every(Math.max(50, Math.floor(d.leaseTtlMs / 4)), () => this.sweep());
  }

  /**
   * A worker key is bound to one worker id, so a worker can neither take
   * another's id (and with it that worker's leases) nor pose as several. Only
   * the local admin of a farm without auth may name any id. Throws
   * PermissionDeniedError for a key bound to another id, InvalidArgumentError
   * for a hello out of bounds, WorkerQuarantinedError for a quarantined worker.
   */
  attach(principal: Principal, hello: Hello, link: WorkerLink): WorkerSession {
    const { sessions, metrics, log } = this.d;
    checkHello(hello, this.d.maxIdChars);
    if (principal.kind === 'tenant' || (principal.kind === 'worker' && principal.workerId !== hello.workerId)) {
      log.warn({ audit: 'worker_refused', keyId: principal.keyId, worker: hello.workerId }, 'worker refused: its key is for another worker id');
      throw new PermissionDeniedError(`this key may not connect as worker "${hello.workerId.slice(0, 128)}"${principal.kind === 'worker' ? `: it is bound to worker id "${principal.workerId}" (--id)` : ''}`);
    }
    const key = quarantineKey(principal, hello.workerId);
    this.d.quarantine.check(key, hello.workerId);
    // The newest stream of an id wins: the old one may be a connection that died without a word (the worker's own
    // reconnect). Its stream is ended with ALREADY_EXISTS, which a live worker takes to mean that another process
    // took its id (worker.ts): it stops instead of taking the id back, so two processes with one id cannot fight.
    const old = sessions.get(hello.workerId);
    if (old !== undefined) this.drop(old, 'replaced', new AlreadyExistsError(`another connection as worker "${hello.workerId}" took this one's place`));
    const session = new WorkerSession(principal, hello, link, key, creditCap(hello, this.d.maxWorkerCredit));
    sessions.set(session.id, session);
    for (const problem of this.d.models.attach(session.id, hello)) log.warn({ worker: session.id }, problem);
    metrics.workersConnected.set(sessions.size);
    link.send({ message: { $case: 'welcome', value: { heartbeatIntervalMs: this.d.heartbeatMs, leaseTtlMs: this.d.leaseTtlMs } } });
    log.info({ worker: session.id, models: hello.models, modelDefaults: hello.modelDefaults, maxBatch: hello.maxBatch, provider: hello.provider }, 'worker connected');
    return session;
  }

  /**
   * The worker is gone (stream ended, silence, quarantined): its leases go
   * back to wait, counting against their images only where it had started
   * them. Vanishing with leases is a strike against the worker.
   */
  drop(session: WorkerSession, reason: string, error?: Error): void {
    const { sessions } = this.d;
    if (sessions.get(session.id) !== session) return;
    sessions.delete(session.id);
    this.d.models.detach(session.id);
    this.d.metrics.workersConnected.set(sessions.size);
    const held = [...session.leases.values()];
    for (const lease of held) this.d.leases.requeue(lease, reason, lease.started);
    session.link.close(error);
    this.d.log.info({ worker: session.id, reason, requeued: held.length }, 'worker disconnected');
    if (held.length > 0 && VANISHED.has(reason)) this.strike(session, `vanished (${reason}) holding ${held.length} leases`);
    this.d.dispatcher.schedule();
  }

  dropAll(reason: string): void {
    for (const s of [...this.d.sessions.values()]) this.drop(s, reason);
  }

  /** Credit beyond the worker's cap (creditCap in hello-check.ts) is clamped: it holds plus is owed at most that many. */
  grantCredit(session: WorkerSession, slots: number): void {
    session.lastSeenMs = Date.now();
    session.credit = Math.max(0, Math.min(session.credit + slots, session.creditCap - session.leases.size));
    this.d.dispatcher.schedule();
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
      const lease = this.d.leases.current(session, taskId, epochs[i] ?? -1);
      if (lease !== undefined) this.d.leases.requeue(lease, 'released', false);
    });
    this.d.dispatcher.schedule();
  }

  recordProgress(session: WorkerSession, steps: readonly TaskStep[]): void {
    session.lastSeenMs = Date.now();
    for (const s of steps) {
      const lease = this.d.leases.current(session, s.taskId, s.epoch);
      if (lease === undefined) continue;
      lease.started = true;
      const { jobId, index } = lease.stored.task;
      this.d.progress.set(jobId, index, s.step, s.totalSteps);
    }
  }

  async acceptResult(session: WorkerSession, r: TaskResult): Promise<void> {
    session.lastSeenMs = Date.now();
    const lease = this.d.leases.current(session, r.taskId, r.epoch);
    if (lease === undefined) {
      this.d.metrics.resultsDropped.inc();
      this.d.log.debug({ worker: session.id, task: r.taskId, epoch: r.epoch }, 'stale result dropped');
      return;
    }
    const { width, height } = lease.stored.task.params;
    const problem = resultProblem(r.image, r.mimeType, { width, height }, this.d.maxResultBytes);
    if (problem !== undefined) {
      this.badResult(session, lease, problem);
      return;
    }
    // The lease leaves the table now, so a concurrent duplicate is dropped while we store.
    this.d.leases.forget(lease);
    await this.d.committer.commit(lease, r);
  }

  /** A result that is not the leased image: the attempt fails, the image waits again without using its budget, the worker takes a strike. */
  private badResult(session: WorkerSession, lease: HeldLease, problem: string): void {
    this.d.log.warn({ worker: session.id, task: lease.taskId, problem }, 'bad result refused');
    this.d.leases.requeue(lease, 'bad_result', false);
    this.strike(session, `a bad result for ${lease.taskId}: ${problem}`);
    this.d.dispatcher.schedule();
  }

  private strike(session: WorkerSession, what: string): void {
    if (!this.d.quarantine.strike(session.key, what)) return;
    this.d.log.warn({ worker: session.id, last: what }, 'worker quarantined');
    try {
      this.d.quarantine.check(session.key, session.id);
    } catch (err) {
      this.drop(session, 'quarantined', err instanceof WorkerQuarantinedError ? err : undefined);
    }
  }

  async acceptFailure(session: WorkerSession, f: TaskFailure): Promise<void> {
    session.lastSeenMs = Date.now();
    const lease = this.d.leases.current(session, f.taskId, f.epoch);
    if (lease === undefined) {
      this.d.metrics.resultsDropped.inc();
      return;
    }
    this.d.leases.forget(lease);
    await this.d.committer.failure(lease, f);
    this.d.dispatcher.schedule();
  }

  private sweep(): void {
    const deadline = Date.now() - this.d.leaseTtlMs;
    for (const s of [...this.d.sessions.values()]) if (s.lastSeenMs < deadline) this.drop(s, 'lease_expired');
  }
}
