// The tasks of a job, computed from its prompt entries on demand: one image
// per task, seeds and parameters resolved, nothing stored per image.
import type { JobSpec, PromptEntry } from '@latentfarm/proto';
import type { TaskSource, TaskSpec } from '../store/store.js';
import { resolveParams, type Defaults } from './params.js';

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

  /** Seeds: the entry's seed plus the offset within the entry, else the job seed plus the index. */
  task(index: number): TaskSpec {
    const entryIndex = this.entryOf(index);
    const entry = this.entries[entryIndex] as PromptEntry;
    const seed = entry.seed !== undefined ? entry.seed + (index - (this.entryStart[entryIndex] ?? 0)) : this.seed + index;
    return {
      jobId: this.jobId, index, entryIndex, prompt: entry.prompt, negativePrompt: entry.negativePrompt,
      params: resolveParams(this.spec.params, entry.overrides, this.defaults, seed), attempts: 0, losses: 0,
    };
  }
}
