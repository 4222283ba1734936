// What the farm looks like now: GetFarmStatus, and the queue gauges
// Prometheus scrapes (every known model gets a series, 0 when idle).
import type { GetFarmStatusResponse } from '@latentfarm/proto';
import type { CoordinatorMetrics } from '../metrics.js';
import type { JobRecord } from '../store/store.js';
import type { Completions } from './completions.js';
import type { JobTable } from './job-table.js';
import type { LeaseTable } from './lease-table.js';
import type { ModelRegistry } from './model-registry.js';
import { maySee, type Principal } from './principal.js';
import type { Timers } from './timers.js';
import type { WorkerSession } from './worker-session.js';

/** Gauges are read every scrape, not every lease: once a second is plenty and keeps them off the hot path. */
const GAUGE_INTERVAL_MS = 1000;

export interface FarmStatusDeps {
  readonly sessions: ReadonlyMap<string, WorkerSession>;
  readonly jobs: JobTable;
  readonly leases: LeaseTable;
  readonly models: ModelRegistry;
  readonly completions: Completions;
  readonly metrics: CoordinatorMetrics;
  readonly timers: Timers;
}

/**
 * GetFarmStatus's answer and what the web console shows beside it: when each
 * worker last spoke and each model's queue. gRPC sends only the message's own
 * fields (the extra ones are not on the wire until the proto grows them).
 */
export interface FarmStatusView extends GetFarmStatusResponse {
  /** Worker id → when it last sent anything (heartbeat, credit, result). */
  workerLastSeenUnixMs: Record<string, number>;
  /** Model → images waiting for a worker. */
  queuedByModel: Record<string, number>;
}

export class FarmStatus {
  constructor(private readonly d: FarmStatusDeps) {
    d.timers.every(GAUGE_INTERVAL_MS, () => this.updateGauges());
  }

  /**
   * Admins see the whole farm. A tenant sees the queue depth, models and
   * throughput (what it needs to plan), its own active jobs and leased images,
   * and no workers: their ids and hosts are the farm's business.
   */
  status(principal: Principal): FarmStatusView {
    const { leases, models, completions } = this.d;
    if (principal.kind !== 'admin') {
      const own = this.d.jobs.active().filter((j) => maySee(principal, j.owner));
      return {
        workerLastSeenUnixMs: {}, queuedByModel: Object.fromEntries(this.queuedByModel()),
        workers: [], models: models.status(), queuedImages: Math.max(0, this.d.jobs.waitingImages() - leases.size),
        leasedImages: own.reduce((n, j) => n + leases.countOf(j.id), 0), activeJobs: own.length,
        imagesPerSecond: completions.perSecond(), imagesCompleted: completions.total, defaultModel: models.defaultModelName(),
      };
    }
    return {
      workerLastSeenUnixMs: Object.fromEntries([...this.d.sessions.values()].map((s) => [s.id, s.lastSeenMs])),
      queuedByModel: Object.fromEntries(this.queuedByModel()),
      workers: [...this.d.sessions.values()].map((s) => ({
        id: s.id, models: s.hello.models, maxBatch: s.hello.maxBatch, provider: s.hello.provider, device: s.hello.device,
        engine: s.hello.engine, leased: s.leases.size, imagesCompleted: s.imagesCompleted, connectedUnixMs: s.connectedUnixMs,
        draining: s.draining,
      })),
      models: models.status(),
      queuedImages: Math.max(0, this.d.jobs.waitingImages() - leases.size),
      leasedImages: leases.size,
      activeJobs: this.d.jobs.active().length,
      imagesPerSecond: completions.perSecond(),
      imagesCompleted: completions.total,
      defaultModel: models.defaultModelName(),
    };
  }

  private updateGauges(): void {
    const { leases, metrics } = this.d;
    metrics.tasksLeased.set(leases.size);
    for (const [model, queued] of this.queuedByModel()) metrics.tasksQueued.set({ model }, queued);
    metrics.tenants.setQueued(this.queuedBy((j) => j.owner));
  }

  /** Images waiting for a worker, per model (every known model, 0 when idle). */
  private queuedByModel(): Map<string, number> {
    const queued = this.queuedBy((j) => j.spec.model);
    for (const model of this.d.models.names()) if (!queued.has(model)) queued.set(model, 0);
    return queued;
  }

  /** Images waiting for a worker (not committed, not leased), per `key` of their job. */
  private queuedBy(key: (job: JobRecord) => string): Map<string, number> {
    const { jobs, leases } = this.d;
    const leased = new Map<string, number>();
    for (const l of leases.values()) {
      const job = jobs.get(l.stored.task.jobId);
      const k = job === undefined ? '' : key(job);
      leased.set(k, (leased.get(k) ?? 0) + 1);
    }
    const waiting = jobs.waitingBy(key);
    return new Map([...waiting].map(([k, n]) => [k, Math.max(0, n - (leased.get(k) ?? 0))]));
  }
}
