// History retention: finished jobs are expired --retain-for after they
// finish, and the oldest finished ones go while images take more than
// --retain-bytes. The store expires them (store.expireJobs / expireToFit:
// what goes, in which order, and why a crash or a second coordinator sweeping
// at once is harmless); this file only decides when: a sweep every quarter of
// the retention (250 ms to a minute; every minute for a size cap alone), in
// batches, so one sweep never holds the store for long.
import type { Logger } from '@latentfarm/common';
import type { Store } from '../store/store.js';
import type { Timers } from './timers.js';

/** Jobs expired per store call: a sweep of a long backlog gives way to other work between batches. */
const BATCH = 100;
const MIN_PERIOD_MS = 250;
const MAX_PERIOD_MS = 60_000;

export interface RetentionDeps {
  readonly store: Store;
  /** How long a finished job is kept; 0: no age limit. */
  readonly retainForMs: number;
  /** Most bytes of stored images before the oldest finished jobs go; 0: no cap. */
  readonly retainBytes: number;
  /**
   * Runs before each sweep: settles the credits of every ended job (farm/credits.ts reconcile). A job's settlement
   * reads its image events, so a job must not expire before it; false (the ledger did not answer) skips the sweep.
   */
  readonly settleFirst: () => Promise<boolean>;
  readonly log: Logger;
}

/** How often the sweeper runs: a job outlives its retention by at most this. */
export const sweepPeriodMs = (retainForMs: number): number => Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.round(retainForMs / 4)));

export class RetentionSweeper {
  private running: Promise<number> | undefined;

  constructor(private readonly d: RetentionDeps) {}

  /** Sweeps every period from now on (nothing when neither limit is set; a size cap alone sweeps every minute). */
  start(timers: Timers): void {
    if (this.d.retainForMs <= 0 && this.d.retainBytes <= 0) return;
    timers.every(sweepPeriodMs(this.d.retainForMs > 0 ? this.d.retainForMs : Number.POSITIVE_INFINITY), () => {
      this.sweep().catch((err: unknown) => this.d.log.warn({ err: (err as Error).message }, 'retention sweep failed; the next one tries again'));
    });
  }

  /** Expires every job due now, a batch at a time; resolves with how many. A sweep asked for while one runs joins it. */
  sweep(): Promise<number> {
    this.running ??= this.expireDue().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async expireDue(): Promise<number> {
    const { store, retainForMs, retainBytes, log } = this.d;
    if (!(await this.d.settleFirst())) {
      log.warn('retention sweep skipped: the credits of ended jobs could not be settled first');
      return 0;
    }
    const cutoff = Date.now() - retainForMs;
    const byAge = retainForMs > 0 ? await inBatches(() => store.expireJobs(cutoff, BATCH)) : 0;
    if (byAge > 0) log.info({ jobs: byAge, finishedBefore: new Date(cutoff).toISOString() }, 'expired finished jobs (--retain-for)');
    const bySize = retainBytes > 0 ? await inBatches(() => store.expireToFit(retainBytes, BATCH)) : 0;
    if (bySize > 0) log.info({ jobs: bySize, maxImageBytes: retainBytes }, 'expired the oldest finished jobs (--retain-bytes)');
    return byAge + bySize;
  }
}

async function inBatches(expire: () => Promise<string[]>): Promise<number> {
  let expired = 0;
  for (;;) {
    const ids = await expire();
    expired += ids.length;
    if (ids.length < BATCH) return expired;
  }
}
