// What the dispatcher asks of a fair-share policy: which job to lease from
// next, and what to remember about each job. The dispatcher is given one (the
// farm's is TenantShare: tenants first, then a tenant's jobs; FairShare shares
// across jobs alone), so a policy can change without touching dispatch. Pure, no I/O.

/** A job as the policy sees it. */
export interface ShareCandidate {
  readonly id: string;
  readonly model: string;
  /** Images of one group batch together on a worker (model and size). */
  readonly group: string;
}

export interface SharePolicy {
  has(id: string): boolean;
  /**
   * A job with images to lease; `weight` grows with its priority; `tenant` owns it ('' for an admin's jobs,
   * which share as one more tenant). Adding a known job does nothing.
   */
  add(id: string, model: string, group: string, weight: number, tenant: string): void;
  remove(id: string): void;
  /** Tasks of the job wait again: it is no longer dry. */
  wake(id: string): void;
  /** The job is believed to have nothing waiting until `untilMs`. */
  markDry(id: string, untilMs: number): void;
  /** The job to lease from next among those `accept` takes, or undefined. */
  pick(accept: (job: ShareCandidate) => boolean, nowMs: number): ShareCandidate | undefined;
  /** `images` of the job were leased. */
  charge(id: string, images: number): void;
}
