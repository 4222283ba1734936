// The latest step of each running image, per job: what watchers show as
// progress. Transient and per coordinator (only images rendered by this
// coordinator's workers); never stored or replayed.

export interface Progress {
  step: number;
  total: number;
}

export class StepProgress {
  private readonly jobs = new Map<string, Map<number, Progress>>();

  set(jobId: string, index: number, step: number, total: number): void {
    let m = this.jobs.get(jobId);
    if (m === undefined) this.jobs.set(jobId, (m = new Map()));
    m.set(index, { step, total });
  }

  /** The image was committed, failed or went back to wait: no step to show. */
  clear(jobId: string, index: number): void {
    this.jobs.get(jobId)?.delete(index);
  }

  dropJob(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /** Image index → latest step, of one job's running images. */
  of(jobId: string): Iterable<[number, Progress]> {
    return this.jobs.get(jobId) ?? [];
  }
}
