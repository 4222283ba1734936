// Which job to lease from next, tenants first. Stride scheduling on two
// levels: each tenant has a virtual "pass" that advances by n/weight when n of
// its images are leased, and the tenant with the lowest pass goes next; within
// that tenant, its job with the lowest pass (advanced by n/priority weight)
// goes. So a tenant's share of the workers follows its weight alone: splitting
// work into many jobs or asking priority 10 moves images between its own jobs,
// never away from another tenant. An admin's jobs share as one more tenant
// (''). Pure logic, no I/O. The farm's SharePolicy.
import type { ShareCandidate, SharePolicy } from './share-policy.js';

interface Job extends ShareCandidate {
  readonly weight: number;
  readonly lane: Lane;
  pass: number;
  /** Until this time (ms) the job is believed to have nothing waiting. */
  dryUntil: number;
}

/** One tenant's place in the rotation, and its jobs with images to lease. */
interface Lane {
  readonly tenant: string;
  pass: number;
  readonly jobs: Map<string, Job>;
}

const STRIDE = 1_000_000;

/** A tenant's weight, read at each charge so a changed weight counts from the next lease; a non-positive one counts as 1. */
export type TenantWeight = (tenant: string) => number;

export class TenantShare implements SharePolicy {
  private readonly lanes = new Map<string, Lane>();
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly tenantWeight: TenantWeight = () => 1) {}

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  add(id: string, model: string, group: string, weight: number, tenant: string): void {
    if (this.jobs.has(id)) return;
    let lane = this.lanes.get(tenant);
    if (lane === undefined) {
      // A tenant that (re)appears starts level with the lowest pass in play: it neither jumps
      // the queue for ever nor carries credit from a time it had nothing to render.
      lane = { tenant, pass: minPass(this.lanes.values()), jobs: new Map() };
      this.lanes.set(tenant, lane);
    }
    // Likewise a tenant's new job starts level with its others.
    const job: Job = { id, model, group, weight, lane, pass: minPass(lane.jobs.values()), dryUntil: 0 };
    lane.jobs.set(id, job);
    this.jobs.set(id, job);
  }

  remove(id: string): void {
    const job = this.jobs.get(id);
    if (job === undefined) return;
    this.jobs.delete(id);
    job.lane.jobs.delete(id);
    if (job.lane.jobs.size === 0) this.lanes.delete(job.lane.tenant);
  }

  wake(id: string): void {
    const j = this.jobs.get(id);
    if (j !== undefined) j.dryUntil = 0;
  }

  markDry(id: string, untilMs: number): void {
    const j = this.jobs.get(id);
    if (j !== undefined) j.dryUntil = untilMs;
  }

  /** Among the jobs `accept` takes: the one of the lowest-pass tenant, and of that tenant's, the lowest-pass job. */
  pick(accept: (job: ShareCandidate) => boolean, nowMs: number): ShareCandidate | undefined {
    let best: Job | undefined;
    for (const job of this.jobs.values()) {
      if (job.dryUntil > nowMs) continue;
      if (best !== undefined && !before(job, best)) continue;
      if (accept(job)) best = job;
    }
    return best;
  }

  charge(id: string, images: number): void {
    const j = this.jobs.get(id);
    if (j === undefined) return;
    j.pass += (images * STRIDE) / j.weight;
    const w = this.tenantWeight(j.lane.tenant);
    j.lane.pass += (images * STRIDE) / (w > 0 ? w : 1);
  }
}

/** Whether `a` goes before `b`: its tenant's pass first, then its own. */
function before(a: Job, b: Job): boolean {
  if (a.lane !== b.lane) return a.lane.pass < b.lane.pass;
  return a.pass < b.pass;
}

function minPass(items: Iterable<{ pass: number }>): number {
  let min = Infinity;
  for (const x of items) min = Math.min(min, x.pass);
  return min === Infinity ? 0 : min;
}
