// Whether a submission fits: the farm's queue (--max-queued-images) for
// everyone, and for a tenant its own quotas (tenant-limits.ts): submit rate,
// unfinished jobs, queued images. A refusal is RESOURCE_EXHAUSTED with when a
// retry may succeed (google.rpc.RetryInfo), or none when only asking for less
// would help. What is exact and what is approximate with several
// coordinators is in coordinator/README.md ("Fair share and quotas").
import { ResourceExhaustedError } from '@latentfarm/common';
import type { TenantDirectory } from '../quota/tenant-directory.js';
import { TokenBucket } from '../quota/token-bucket.js';
import type { Completions } from './completions.js';
import type { JobTable } from './job-table.js';
import type { Principal } from './principal.js';

/** Suggested wait when a tenant is at its job quota: how long a job runs is not known here. */
export const RUNNING_JOBS_RETRY_MS = 10_000;
/** Bounds of the suggested wait for queued images to drain. */
export const MIN_DRAIN_RETRY_MS = 1_000;
export const MAX_DRAIN_RETRY_MS = 300_000;
/** Suggested wait for queued images while nothing has been rendered lately (no rate to go by). */
export const IDLE_DRAIN_RETRY_MS = 30_000;

export interface QuotaGateDeps {
  readonly jobs: JobTable;
  readonly tenants: TenantDirectory;
  readonly completions: Completions;
  /** The farm's queue, over every tenant and admin. */
  readonly maxQueuedImages: number;
  readonly now?: () => number;
}

export class QuotaGate {
  /** Submit-rate buckets, per tenant, of this coordinator. */
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly now: () => number;

  constructor(private readonly d: QuotaGateDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Throws ResourceExhaustedError unless `principal` may submit a job of `images` images now. */
  async admit(principal: Principal, images: number): Promise<void> {
    const { jobs } = this.d;
    const waiting = jobs.waitingImages();
    if (waiting + images > this.d.maxQueuedImages) {
      throw new ResourceExhaustedError(
        `the farm queue is full (${waiting} images waiting, limit ${this.d.maxQueuedImages}); retry later or submit fewer images`,
        images > this.d.maxQueuedImages ? undefined : this.drainMs(waiting + images - this.d.maxQueuedImages),
      );
    }
    if (principal.kind !== 'tenant') return;
    const id = principal.tenantId;
    const limits = await this.d.tenants.limits(id);
    // Every attempt counts against the rate, refused or not: the rate is what bounds a client that keeps trying.
    const rateWait = this.bucket(id, limits.submitsPerMinute).take(this.now());
    if (rateWait > 0) {
      throw new ResourceExhaustedError(`tenant "${id}" is over its submit rate of ${limits.submitsPerMinute} a minute`, rateWait);
    }
    const running = jobs.activeJobsOf(id);
    if (running >= limits.maxRunningJobs) {
      throw new ResourceExhaustedError(
        `tenant "${id}" has ${running} unfinished jobs, its quota is ${limits.maxRunningJobs}: wait for one to end`, RUNNING_JOBS_RETRY_MS,
      );
    }
    const queued = jobs.waitingImagesOf(id);
    if (images > limits.maxQueuedImages) {
      throw new ResourceExhaustedError(`a job of ${images} images is over tenant "${id}"'s quota of ${limits.maxQueuedImages} queued images: split it into smaller jobs`);
    }
    if (queued + images > limits.maxQueuedImages) {
      throw new ResourceExhaustedError(
        `tenant "${id}" has ${queued} images queued, its quota is ${limits.maxQueuedImages}: wait for some to finish or submit fewer`,
        this.drainMs(queued + images - limits.maxQueuedImages),
      );
    }
  }

  private bucket(tenantId: string, perMinute: number): TokenBucket {
    let b = this.buckets.get(tenantId);
    if (b === undefined) {
      b = new TokenBucket(perMinute, perMinute, this.now());
      this.buckets.set(tenantId, b);
    } else {
      b.resize(perMinute, perMinute);
    }
    return b;
  }

  /** How long until `images` more have likely been rendered, at the rate images were committed here over the last minute. */
  private drainMs(images: number): number {
    const perSecond = this.d.completions.perSecond();
    if (perSecond <= 0) return IDLE_DRAIN_RETRY_MS;
    return Math.min(MAX_DRAIN_RETRY_MS, Math.max(MIN_DRAIN_RETRY_MS, Math.ceil((images / perSecond) * 1000)));
  }
}
