// The tasks of a job, computed from its prompt entries on demand: one image
// per task, seeds and parameters resolved, nothing stored per image.
import { offsetSeed, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import type { TaskSource, TaskSpec } from '../store/store.js';
import { resolveEntryParams, type Defaults } from './params.js';

export class EntryTaskSource implements TaskSource {
  readonly total: number;
  /** First image index of each entry. */
  private readonly entryStart: Uint32Array;

  constructor(
    private readonly jobId: string,
    private readonly spec: JobSpec,
    private readonly entries: readonly PromptEntry[],
    private readonly seed: number,
    private readonly defaults: Defaults,
  ) {
    this.entryStart = new Uint32Array(entries.length);
    let total = 0;
    entries.forEach((e, i) => {
      this.entryStart[i] = total;
      total += e.images || 1;
    });
    this.total = total;
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

  /**
   * The one rule for image seeds: an entry that sets a seed gives its images
   * that seed plus their offset within the entry, the others get the job seed
   * plus the image's index in the job; both modulo 2^32 (the seed range).
   */
  seedOf(index: number): number {
    const entryIndex = this.entryOf(index);
    const entry = this.entries[entryIndex] as PromptEntry;
    return entry.seed !== undefined ? offsetSeed(entry.seed, index - (this.entryStart[entryIndex] ?? 0)) : offsetSeed(this.seed, index);
  }

  task(index: number): TaskSpec {
    const entryIndex = this.entryOf(index);
    const entry = this.entries[entryIndex] as PromptEntry;
    return {
      jobId: this.jobId, index, entryIndex, prompt: entry.prompt, negativePrompt: entry.negativePrompt,
      params: { ...resolveEntryParams(this.spec.params, entry.overrides, this.defaults), seed: this.seedOf(index) }, attempts: 0, losses: 0,
    };
  }
}
