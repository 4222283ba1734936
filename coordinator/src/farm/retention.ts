// History retention: finished jobs are expired --retain-for after they
// finish, by the store (store.expireJobs: what goes, in which order, and why
// a crash or a second coordinator sweeping at once is harmless). This file
// only decides when: a sweep every quarter of the retention (at least every
// minute), in batches, so one sweep never holds the store for long.
import type { Logger } from '@latentfarm/common';
import type { Store } from '../store/store.js';
import type { Timers } from './timers.js';

/** Jobs expired per store call: a sweep of a long backlog gives way to other work between batches. */
const BATCH = 100;
const MIN_PERIOD_MS = 250;
const MAX_PERIOD_MS = 60_000;

export interface RetentionDeps {
  readonly store: Store;
  /** How long a finished job is kept; 0 keeps every job (no sweeper). */
  readonly retainForMs: number;
  readonly log: Logger;
}

/** How often the sweeper runs: a job outlives its retention by at most this. */
export const sweepPeriodMs = (retainForMs: number): number => Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.round(retainForMs / 4)));

export class RetentionSweeper {
  private running: Promise<number> | undefined;

  constructor(private readonly d: RetentionDeps) {}

  /** Sweeps every period from now on (nothing with a retention of 0). */
  start(timers: Timers): void {
    if (this.d.retainForMs <= 0) return;
    timers.every(sweepPeriodMs(this.d.retainForMs), () => {
      this.sweep().catch((err: unknown) => this.d.log.warn({ err: (err as Error).message }, 'retention sweep failed; the next one tries again'));
    });
  }

  /** Expires every job due now, a batch at a time; resolves with how many. A sweep asked for while one runs joins it. */
  sweep(): Promise<number> {
    this.running ??= this.expireDue().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async expireDue(): Promise<number> {
    const cutoff = Date.now() - this.d.retainForMs;
    let expired = 0;
    for (;;) {
      const ids = await this.d.store.expireJobs(cutoff, BATCH);
      expired += ids.length;
      if (ids.length < BATCH) break;
    }
    if (expired > 0) this.d.log.info({ jobs: expired, finishedBefore: new Date(cutoff).toISOString() }, 'expired finished jobs');
    return expired;
  }
}
