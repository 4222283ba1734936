/**
 * Events per second over a sliding window (default the last 60 s), counted in
 * one-second buckets by when each event happened, so events learned of late
 * (a replayed stream) land in their own second. While less than a window has
 * passed since `sinceMs` (a farm or job that just started) the figure covers
 * that shorter span, so a steady source reads the same from its first seconds
 * on instead of climbing for a minute.
 */
export class SlidingRate {
  private readonly counts: Float64Array;
  /** The second (Unix seconds) each bucket holds; -1 for none. */
  private readonly seconds: Float64Array;

  constructor(readonly windowMs = 60_000, private sinceMs = Date.now(), private readonly now: () => number = Date.now) {
    const n = Math.ceil(windowMs / 1000) + 1;
    this.counts = new Float64Array(n);
    this.seconds = new Float64Array(n).fill(-1);
  }

  /** Moves the start of what is measured (e.g. when a watched job starts running). */
  startAt(sinceMs: number): void {
    this.sinceMs = sinceMs;
  }

  add(n = 1, atMs = this.now()): void {
    const s = Math.floor(atMs / 1000);
    if (s <= Math.floor((this.now() - this.windowMs) / 1000) - 1) return; // older than the window
    const i = s % this.counts.length;
    if (this.seconds[i] !== s) {
      this.seconds[i] = s;
      this.counts[i] = 0;
    }
    this.counts[i] = (this.counts[i] ?? 0) + n;
  }

  perSecond(): number {
    const { count, spanMs } = this.window();
    return (count * 1000) / spanMs;
  }

  /** Seconds the current figure covers: the window, or less just after the start. */
  coveredSeconds(): number {
    return this.window().spanMs / 1000;
  }

  private window(): { count: number; spanMs: number } {
    const now = this.now();
    const from = Math.floor(Math.max(now - this.windowMs, this.sinceMs) / 1000);
    const to = Math.floor(now / 1000);
    let count = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const s = this.seconds[i] as number;
      if (s >= from && s <= to) count += this.counts[i] as number;
    }
    // Whole buckets from `from` on are counted, so the span starts there too; at least a second, so a first event is not a spike.
    return { count, spanMs: Math.max(1000, now - from * 1000) };
  }
}
