// A job in the coordinator's memory: its prompts, and one byte of state per
// image, so that a million-image job costs megabytes, not a million objects.
import { GenerationParams, JobState, type ImageCounts, type Job, type JobSpec, type PromptEntry, type ResolvedParams } from '@latentfarm/proto';
import { resolveParams, type Defaults } from './params.js';

export const ImageStatus = { Pending: 0, Leased: 1, Succeeded: 2, Failed: 3, Cancelled: 4 } as const;
export type ImageStatus = (typeof ImageStatus)[keyof typeof ImageStatus];

export interface ImageTask {
  index: number;
  entryIndex: number;
  prompt: string;
  negativePrompt: string;
  params: ResolvedParams;
}

export class JobRecord {
  readonly status: Uint8Array;
  /** Reported failures, and leases lost with their worker, per image. */
  readonly attempts: Uint8Array;
  readonly losses: Uint8Array;
  readonly counts: ImageCounts;
  state = JobState.QUEUED;
  startedUnixMs = 0;
  finishedUnixMs = 0;
  spentCredits = 0;
  lastSequence = 0;
  /** First image index of each entry, plus the total at the end. */
  private readonly entryStart: Uint32Array;

  constructor(
    readonly id: string,
    readonly spec: JobSpec,
    readonly entries: readonly PromptEntry[],
    readonly seed: number,
    readonly createdUnixMs: number,
    readonly estimatedCredits: number,
    private readonly defaults: Defaults,
  ) {
    this.entryStart = new Uint32Array(entries.length + 1);
    let total = 0;
    entries.forEach((e, i) => {
      this.entryStart[i] = total;
      total += e.images || 1;
    });
    this.entryStart[entries.length] = total;
    this.status = new Uint8Array(total);
    this.attempts = new Uint8Array(total);
    this.losses = new Uint8Array(total);
    this.counts = { total, succeeded: 0, failed: 0, cancelled: 0, running: 0 };
  }

  get total(): number {
    return this.counts.total;
  }

  get finished(): boolean {
    return this.state === JobState.SUCCEEDED || this.state === JobState.PARTIAL || this.state === JobState.FAILED || this.state === JobState.CANCELLED;
  }

  imageId(index: number): string {
    return `${this.id}/${index}`;
  }

  entryOf(index: number): number {
    // Binary search: the last entry whose first image is <= index.
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.entryStart[mid] ?? 0) <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Everything a worker needs to render image `index`. Seeds: entry seed + offset, else job seed + index. */
  task(index: number): ImageTask {
    const entryIndex = this.entryOf(index);
    const entry = this.entries[entryIndex] as PromptEntry;
    const seed = entry.seed !== undefined ? entry.seed + (index - (this.entryStart[entryIndex] ?? 0)) : this.seed + index;
    return {
      index,
      entryIndex,
      prompt: entry.prompt,
      negativePrompt: entry.negativePrompt,
      params: resolveParams(this.spec.params, entry.overrides, this.defaults, seed),
    };
  }

  /** Moves image `index` to `to`, keeping the counts in step. */
  setStatus(index: number, to: ImageStatus): void {
    const from = this.status[index] as ImageStatus;
    if (from === to) return;
    this.status[index] = to;
    this.count(from, -1);
    this.count(to, +1);
  }

  private count(s: ImageStatus, d: number): void {
    if (s === ImageStatus.Leased) this.counts.running += d;
    else if (s === ImageStatus.Succeeded) this.counts.succeeded += d;
    else if (s === ImageStatus.Failed) this.counts.failed += d;
    else if (s === ImageStatus.Cancelled) this.counts.cancelled += d;
  }

  get done(): number {
    return this.counts.succeeded + this.counts.failed + this.counts.cancelled;
  }

  /** The state the counts imply once every image has ended. */
  finalState(): JobState {
    if (this.counts.cancelled > 0) return JobState.CANCELLED;
    if (this.counts.failed === 0) return JobState.SUCCEEDED;
    return this.counts.succeeded === 0 ? JobState.FAILED : JobState.PARTIAL;
  }

  toProto(): Job {
    return {
      id: this.id,
      spec: { ...this.spec, params: GenerationParams.fromPartial({ ...this.spec.params, seed: this.seed }) },
      state: this.state,
      images: { ...this.counts },
      promptCount: this.entries.length,
      estimatedCredits: this.estimatedCredits,
      spentCredits: this.spentCredits,
      createdUnixMs: this.createdUnixMs,
      startedUnixMs: this.startedUnixMs,
      finishedUnixMs: this.finishedUnixMs,
      lastSequence: this.lastSequence,
    };
  }
}
