// A job submitted by stream while its prompts arrive: each chunk is checked,
// priced and written to the store at once, so the coordinator holds one chunk
// at a time, never the whole job; the stream is refused at the first entry
// that takes the job past its image limit, and what was written is discarded.
import { InvalidArgumentError } from '@latentfarm/common';
import type { JobSpec, PromptEntry } from '@latentfarm/proto';
import { validateEntry, type Defaults, type Limits } from '../jobs/params.js';
import { EntryTaskSource } from '../jobs/task-source.js';
import type { JobRecord, JobWriter, Store } from '../store/store.js';
import type { Pricing } from './pricing.js';

export interface StreamedJobDeps {
  readonly store: Store;
  readonly pricing: Pricing;
  readonly limits: Limits;
  readonly defaults: Defaults;
  readonly maxImagesPerJob: number;
}

export class StreamedJob {
  promptCount = 0;
  images = 0;
  credits = 0;
  /** What is reserved: each image's price in ledger units (jobs/cost.ts), summed as chunks arrive. */
  units = 0;
  private readonly writer: JobWriter;
  /** Set once the record is sent: a commit that failed may still have stored it, so its tasks stay. */
  private committing = false;

  /** `spec`: validated, with its model resolved and its seed set. */
  constructor(private readonly d: StreamedJobDeps, readonly id: string, readonly spec: JobSpec, private readonly seed: number) {
    this.writer = d.store.beginJob(id);
  }

  /** Checks, prices and writes one chunk; throws INVALID_ARGUMENT at its first bad entry or the first past the limit. */
  async add(entries: readonly PromptEntry[]): Promise<void> {
    let images = this.images;
    entries.forEach((e, i) => {
      const index = this.promptCount + i;
      validateEntry(e, index, this.d.limits);
      images += e.images || 1;
      if (images > this.d.maxImagesPerJob) {
        throw new InvalidArgumentError(`entries[${index}]`, `takes the job past ${this.d.maxImagesPerJob} images, the most one job may have: split it into several jobs`);
      }
    });
    if (entries.length === 0) return;
    const place = { firstEntry: this.promptCount, firstImage: this.images };
    await this.writer.addTasks(new EntryTaskSource(this.id, this.spec, entries, this.seed, this.d.defaults, place));
    const estimate = this.d.pricing.estimate(this.spec, entries);
    this.credits += estimate.credits;
    this.units += estimate.units;
    this.promptCount += entries.length;
    this.images = images;
  }

  /** Stores the record: the job becomes visible with all its tasks. */
  async commit(record: JobRecord): Promise<void> {
    this.committing = true;
    await this.writer.commit(record);
  }

  /** Removes what was written, unless the record was sent (then it is a job like any other). */
  async discard(): Promise<void> {
    if (!this.committing) await this.writer.discard();
  }
}
