// A job's events as a watcher sees them: the stored log from a sequence on
// (state changes and committed images, with their bytes unless only
// references are wanted), then live ones as they are committed, with step
// progress of running images in between. Ends after the job's final state.
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from '@latentfarm/common';
import { FinishReason, type ImageCounts, type ImageInfo, type JobState } from '@latentfarm/proto';
import { checkIdLength } from '../jobs/bounds.js';
import type { Store } from '../store/store.js';
import { isFinished, isTerminal, type JobTable } from './job-table.js';
import type { Principal } from './principal.js';
import type { StepProgress } from './progress.js';
import { SharedEventReads } from './shared-event-reads.js';
import { SharedImageReads } from './shared-image-reads.js';

/** How often step progress is sent while no event comes. */
const PROGRESS_INTERVAL_MS = 250;
/** Events read from the store in one go. */
const READ_BATCH = 64;

export interface ImageStepProgress {
  imageId: string;
  step: number;
  totalSteps: number;
}

export type WatchEvent =
  | { kind: 'state'; seq: number; unixMs: number; state: JobState; counts: ImageCounts; reason: string }
  /** `data`: the image's bytes; undefined for a failed image or when only references were asked for. */
  | { kind: 'image'; seq: number; unixMs: number; info: ImageInfo; data: Uint8Array | undefined }
  /** Latest steps of running images that changed since the last progress event; `seq` is the last event's. */
  | { kind: 'progress'; seq: number; unixMs: number; images: ImageStepProgress[] };

export interface WatchOptions {
  /** Image events carry the image's bytes. */
  readonly images: boolean;
  /** Step progress events are sent. */
  readonly progress: boolean;
}

export class JobWatch {
  private readonly reads: SharedEventReads;

  constructor(
    private readonly store: Store, private readonly jobs: JobTable, private readonly progress: StepProgress, private readonly maxIdChars: number,
    private readonly images: SharedImageReads = new SharedImageReads(store),
  ) {
    this.reads = new SharedEventReads(store);
  }

  /**
   * The job's events after sequence `after` (0: from the start), until its
   * final state or until `signal` aborts. Throws before the first event if the
   * job is unknown or `after` is beyond its latest event. The caller's pace is
   * respected: the next event is read when the caller asks for it.
   */
  async *events(principal: Principal, jobId: string, after: number, signal: AbortSignal, options: WatchOptions): AsyncGenerator<WatchEvent, void, undefined> {
    const { store } = this;
    checkIdLength('job_id', jobId, this.maxIdChars);
    // The wire's uint64 decodes only up to 2^53−1 (a larger one is refused as malformed); a caller in this process could pass anything.
    if (!Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError('after_sequence', `${after} is not a sequence (0 to 2^53−1)`);
    const job = await this.jobs.find(principal, jobId);
    const last = await store.lastSequence(job.id);
    if (after > last) throw new InvalidArgumentError('after_sequence', `${after} is beyond the job's latest event ${last}`);
    // The caller has seen the job's end already (a resume after its last event): nothing will follow.
    if (await this.endedBefore(job.id, after, isFinished(job), last)) return;
    const sentSteps = new Map<number, number>();
    let newEvents: Promise<void> | undefined;
    while (!signal.aborted) {
      const events = await this.reads.read(job.id, after, READ_BATCH);
      for (const e of events) {
        if (signal.aborted) return;
        if (e.kind === 'state') {
          yield { kind: 'state', seq: e.seq, unixMs: e.unixMs, state: e.state, counts: e.counts, reason: e.reason };
          after = e.seq;
          if (isTerminal(e.state)) return;
          continue;
        }
        sentSteps.delete(e.info.index);
        const stored = e.info.finishReason === FinishReason.SUCCESS && options.images ? await this.images.get(e.info.id) : undefined;
        yield { kind: 'image', seq: e.seq, unixMs: e.unixMs, info: e.info, data: stored?.data };
        after = e.seq;
      }
      if (events.length > 0) continue;
      // One waiter per gap in the log, kept across progress ticks, so a quiet job does not pile them up.
      newEvents ??= store.waitForEvents(job.id, after, signal).then(() => { newEvents = undefined; });
      await Promise.race([newEvents, sleep(PROGRESS_INTERVAL_MS)]);
      if (options.progress && !signal.aborted) {
        const images: ImageStepProgress[] = [];
        for (const [index, p] of this.progress.of(job.id)) {
          if (sentSteps.get(index) === p.step) continue;
          sentSteps.set(index, p.step);
          images.push({ imageId: `${job.id}/${index}`, step: p.step, totalSteps: p.total });
        }
        if (images.length > 0) yield { kind: 'progress', seq: after, unixMs: Date.now(), images };
      }
    }
  }

  /**
   * Whether a watch after `after` has nothing left to wait for: the job is
   * finished and no event follows `after`, or the event at `after` is the job's
   * final state (its record may lag it by a moment). `finished` must be read
   * before `last`: a finishing job appends its final event before its record
   * says it is finished, so a finished record seen first means `last` is final.
   */
  private async endedBefore(jobId: string, after: number, finished: boolean, last: number): Promise<boolean> {
    if (after === 0) return false;
    if (finished) return after >= last;
    const [atAfter] = await this.store.readEvents(jobId, after - 1, 1);
    return atAfter?.seq === after && atAfter.kind === 'state' && isTerminal(atAfter.state);
  }
}
