// How far a watched job is, and how fast it goes, from what a watch sees.
import { SlidingRate } from '@latentfarm/common';
import { FinishReason, JobState, type Job } from '@latentfarm/proto';
import type { WatchEvent } from '@latentfarm/client';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED]);

export const isFinished = (state: JobState): boolean => TERMINAL.has(state);

/**
 * Counts from the job's real state: GetJob's counts at the start, then only
 * images committed after the sequence GetJob reported (earlier ones are in
 * those counts already, even when the watch replays them), and each new state
 * event's counts as they come.
 */
export class Tally {
  done: number;
  failed: number;
  private readonly baseline: number;

  constructor(start: Job) {
    this.done = (start.images?.succeeded ?? 0) + (start.images?.failed ?? 0);
    this.failed = start.images?.failed ?? 0;
    this.baseline = start.lastSequence;
  }

  see(ev: WatchEvent): void {
    if (ev.sequence <= this.baseline) return;
    if (ev.type === 'state') {
      this.done = ev.counts.succeeded + ev.counts.failed;
      this.failed = ev.counts.failed;
    } else if (ev.type === 'image') {
      this.done++;
      if (ev.info.finishReason !== FinishReason.SUCCESS) this.failed++;
    }
  }
}

/**
 * The job's images per second, measured as the farm measures its own
 * (SlidingRate: the last 60 s, or since the job started running), by commit
 * time, so replayed images count when they were made, not when they arrive.
 * Once the job has ended, the figure stays its last minute's rate.
 */
export class JobRate {
  private endedMs: number | undefined;
  private readonly rate = new SlidingRate(60_000, Date.now(), () => Math.min(Date.now(), this.endedMs ?? Infinity));
  private started = false;

  constructor(start: Job, resuming: boolean) {
    // When resuming, images before the resume point are never seen: measure from the first one seen instead.
    if (start.startedUnixMs > 0 && !resuming) this.startAt(start.startedUnixMs);
    if (start.finishedUnixMs > 0) this.endedMs = start.finishedUnixMs;
  }

  private startAt(ms: number): void {
    this.rate.startAt(ms);
    this.started = true;
  }

  see(ev: WatchEvent): void {
    if (ev.type === 'state') {
      if (ev.state === JobState.RUNNING && !this.started) this.startAt(ev.unixMs);
      if (TERMINAL.has(ev.state)) this.endedMs = ev.unixMs;
    }
    if (ev.type !== 'image') return;
    if (!this.started) this.startAt(ev.unixMs);
    this.rate.add(1, ev.unixMs);
  }

  get perSecond(): number {
    return this.started ? this.rate.perSecond() : 0;
  }

  get seconds(): number {
    return this.rate.coveredSeconds();
  }
}
