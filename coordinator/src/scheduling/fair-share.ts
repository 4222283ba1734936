// Which job to lease from next. Stride scheduling: each job advances a
// virtual "pass" by n/weight when n of its images are leased, and the job with
// the lowest pass goes next, so every job gets a share proportional to its
// priority and a ten-image job is not stuck behind a million-image one.
// Pure logic, no I/O. The default SharePolicy.
import type { ShareCandidate, SharePolicy } from './share-policy.js';

export interface ShareJob extends ShareCandidate {
  readonly weight: number;
  pass: number;
  /** Until this time (ms) the job is believed to have nothing waiting. */
  dryUntil: number;
}

const STRIDE = 1_000_000;

export class FairShare implements SharePolicy {
  private readonly jobs = new Map<string, ShareJob>();

  get size(): number {
    return this.jobs.size;
  }

  has(id: string): boolean {
    return this.jobs.has(id);
  }

  ids(): IterableIterator<string> {
    return this.jobs.keys();
  }

  add(id: string, model: string, group: string, weight: number): void {
    if (this.jobs.has(id)) return;
    // A newcomer starts level with the lowest pass in play, so it neither
    // jumps the queue for ever nor waits for old jobs' passes to catch up.
    this.jobs.set(id, { id, model, group, weight, pass: this.minPass(), dryUntil: 0 });
  }

  remove(id: string): void {
    this.jobs.delete(id);
  }

  /** Tasks of the job wait again. */
  wake(id: string): void {
    const j = this.jobs.get(id);
    if (j !== undefined) j.dryUntil = 0;
  }

  markDry(id: string, untilMs: number): void {
    const j = this.jobs.get(id);
    if (j !== undefined) j.dryUntil = untilMs;
  }

  /** The eligible job with the lowest pass. */
  pick(accept: (job: ShareCandidate) => boolean, nowMs: number): ShareJob | undefined {
    let best: ShareJob | undefined;
    for (const job of this.jobs.values()) {
      if (job.dryUntil > nowMs) continue;
      if ((best === undefined || job.pass < best.pass) && accept(job)) best = job;
    }
    return best;
  }

  charge(id: string, images: number): void {
    const j = this.jobs.get(id);
    if (j !== undefined) j.pass += (images * STRIDE) / j.weight;
  }

  private minPass(): number {
    let min = Infinity;
    for (const j of this.jobs.values()) min = Math.min(min, j.pass);
    return min === Infinity ? 0 : min;
  }
}
