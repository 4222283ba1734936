// The tasks of a job, computed from its prompt entries on demand: one image
// per task, seeds and parameters resolved, nothing stored per image. A job
// submitted by stream is made of one source per chunk of entries, each placed
// where its chunk sits in the job (its first entry and first image).
import { offsetSeed, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import type { TaskRange, TaskSource, TaskSpec } from '../store/store.js';
import { resolveEntryParams, type Defaults } from './params.js';

/** Where a chunk of entries sits in its job. */
export interface ChunkPlace {
  /** Index in the job of the chunk's first entry. */
  firstEntry: number;
  /** Index in the job of the chunk's first image. */
  firstImage: number;
}

export class EntryTaskSource implements TaskSource, TaskRange {
  /** Images of these entries. */
  readonly total: number;
  /** First and past-last image index in the job. */
  readonly from: number;
  readonly to: number;
  /** First image index (within these entries) of each entry. */
  private readonly entryStart: Uint32Array;

  constructor(
    private readonly jobId: string,
    private readonly spec: JobSpec,
    private readonly entries: readonly PromptEntry[],
    private readonly seed: number,
    private readonly defaults: Defaults,
    private readonly place: ChunkPlace = { firstEntry: 0, firstImage: 0 },
  ) {
    this.entryStart = new Uint32Array(entries.length);
    let total = 0;
    entries.forEach((e, i) => {
      this.entryStart[i] = total;
      total += e.images || 1;
    });
    this.total = total;
    this.from = place.firstImage;
    this.to = place.firstImage + total;
  }

  /** The entry (index within these entries) of the image `local` images past the first. */
  private localEntryOf(local: number): number {
    // Binary search: the last entry whose first image is <= local.
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.entryStart[mid] ?? 0) <= local) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The entry (index in the job) of image `index` of the job. */
  entryOf(index: number): number {
    return this.place.firstEntry + this.localEntryOf(index - this.from);
  }

  /**
   * The one rule for image seeds: an entry that sets a seed gives its images
   * that seed plus their offset within the entry, the others get the job seed
   * plus the image's index in the job; both modulo 2^32 (the seed range).
   */
  seedOf(index: number): number {
    const local = index - this.from;
    const e = this.localEntryOf(local);
    const entry = this.entries[e] as PromptEntry;
    return entry.seed !== undefined ? offsetSeed(entry.seed, local - (this.entryStart[e] ?? 0)) : offsetSeed(this.seed, index);
  }

  task(index: number): TaskSpec {
    const e = this.localEntryOf(index - this.from);
    const entry = this.entries[e] as PromptEntry;
    return {
      jobId: this.jobId, index, entryIndex: this.place.firstEntry + e, prompt: entry.prompt, negativePrompt: entry.negativePrompt,
      params: { ...resolveEntryParams(this.spec.params, entry.overrides, this.defaults), seed: this.seedOf(index) }, attempts: 0, losses: 0,
    };
  }
}
