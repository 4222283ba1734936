// Which image to lease next. Stride scheduling across jobs: each job advances
// a virtual "pass" by 1/weight per image leased, and the job with the lowest
// pass goes next, so every job gets a share proportional to its priority and
// a ten-image job is not stuck behind a million-image one. Pure logic, no I/O.

export interface QueuedJob {
  readonly id: string;
  readonly model: string;
  readonly weight: number;
  /** Images of one group (model and size) batch together on a worker. */
  readonly group: string;
  /** Next never-leased image index, and the end of the job. */
  next: number;
  readonly end: number;
  /** Images handed back (lease lapsed, retryable failure), leased before fresh ones. */
  readonly retries: number[];
  pass: number;
}

const STRIDE = 1_000_000;

export class FairQueue {
  private readonly jobs = new Map<string, QueuedJob>();
  private pending = 0;

  get size(): number {
    return this.pending;
  }

  get activeJobs(): number {
    return this.jobs.size;
  }

  /** Adds a job whose images [0, total) all wait. */
  add(id: string, model: string, weight: number, total: number, group: string): void {
    if (total === 0) return;
    // A newcomer starts at the lowest pass in play, so it neither jumps the
    // queue for ever nor waits for the pass of old jobs to catch up.
    this.jobs.set(id, { id, model, weight, group, next: 0, end: total, retries: [], pass: this.minPass() });
    this.pending += total;
  }

  /** Puts image `index` of job `id` back in line (the job may have left the queue). */
  requeue(id: string, model: string, weight: number, index: number, group: string): void {
    let job = this.jobs.get(id);
    if (job === undefined) {
      job = { id, model, weight, group, next: 0, end: 0, retries: [], pass: this.minPass() };
      this.jobs.set(id, job);
    }
    job.retries.push(index);
    this.pending++;
  }

  /** Drops every waiting image of job `id`; returns how many were dropped. */
  remove(id: string): number {
    const job = this.jobs.get(id);
    if (job === undefined) return 0;
    const n = job.end - job.next + job.retries.length;
    this.jobs.delete(id);
    this.pending -= n;
    return n;
  }

  /**
   * Takes the next image from the job with the lowest pass among those `accept`s.
   */
  take(accept: (job: QueuedJob) => boolean): { jobId: string; index: number } | undefined {
    let best: QueuedJob | undefined;
    for (const job of this.jobs.values()) {
      if ((best === undefined || job.pass < best.pass) && accept(job)) best = job;
    }
    if (best === undefined) return undefined;
    const index = best.retries.length > 0 ? (best.retries.pop() as number) : best.next++;
    best.pass += STRIDE / best.weight;
    this.pending--;
    if (best.retries.length === 0 && best.next >= best.end) this.jobs.delete(best.id);
    return { jobId: best.id, index };
  }

  /** Images waiting per model. */
  pendingByModel(): Map<string, number> {
    const out = new Map<string, number>();
    for (const j of this.jobs.values()) out.set(j.model, (out.get(j.model) ?? 0) + j.end - j.next + j.retries.length);
    return out;
  }

  private minPass(): number {
    let min = Infinity;
    for (const j of this.jobs.values()) min = Math.min(min, j.pass);
    return min === Infinity ? 0 : min;
  }
}
