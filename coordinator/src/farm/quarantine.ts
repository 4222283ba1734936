// Workers that misbehave are refused for a while. A strike is a vanishing
// (the stream ended or went silent) while holding leases, or a result that is
// not the image leased; `strikes` of them within `windowMs` quarantine the
// worker for `windowMs`. Each strike costs the images nothing (their leases
// go back without using their retry budget), so without this a worker could
// take and drop leases forever.
import { ResourceExhaustedError } from '@latentfarm/common';
import type { Principal } from './principal.js';

export interface QuarantineOptions {
  readonly strikes: number;
  readonly windowMs: number;
}

/** A quarantined worker's Connect is refused, and its stream ended, with this (RESOURCE_EXHAUSTED). */
export class WorkerQuarantinedError extends ResourceExhaustedError {}

/**
 * Who a strike counts against. Workers do not authenticate yet, so it is the
 * worker id they claim. Once a worker's id is bound to its credential
 * (issue 13, identity), key by the credential instead, so a worker cannot
 * shed its strikes by claiming a fresh id.
 */
export function quarantineKey(_principal: Principal, workerId: string): string {
  return `worker:${workerId}`;
}

export class Quarantine {
  /** Strike times per key, oldest first; keys with none in the window are dropped. */
  private readonly strikes = new Map<string, number[]>();
  /** Quarantined keys and when they are let back in, with why. */
  private readonly until = new Map<string, { unixMs: number; why: string }>();

  constructor(private readonly o: QuarantineOptions, private readonly now: () => number = Date.now) {}

  /** Throws WorkerQuarantinedError while `key` is quarantined. */
  check(key: string, workerId: string): void {
    const q = this.until.get(key);
    if (q === undefined) return;
    const left = q.unixMs - this.now();
    if (left <= 0) {
      this.until.delete(key);
      return;
    }
    throw new WorkerQuarantinedError(
      `worker "${workerId.slice(0, 64)}" is quarantined for another ${Math.ceil(left / 1000)} s: ${q.why}; fix the worker, then reconnect`,
    );
  }

  /** Records a strike; true when it quarantines the key. */
  strike(key: string, what: string): boolean {
    const t = this.now();
    const recent = (this.strikes.get(key) ?? []).filter((s) => s > t - this.o.windowMs);
    recent.push(t);
    this.sweep(t);
    if (recent.length < this.o.strikes) {
      this.strikes.set(key, recent);
      return false;
    }
    this.strikes.delete(key);
    this.until.set(key, { unixMs: t + this.o.windowMs, why: `${recent.length} strikes in ${Math.round(this.o.windowMs / 1000)} s (last: ${what})` });
    return true;
  }

  /** Forgets keys whose strikes and quarantine have all expired, so a stream of fresh ids does not grow memory. */
  private sweep(t: number): void {
    for (const [k, times] of this.strikes) if ((times.at(-1) ?? 0) <= t - this.o.windowMs) this.strikes.delete(k);
    for (const [k, q] of this.until) if (q.unixMs <= t) this.until.delete(k);
  }
}
