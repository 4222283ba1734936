// Images per second over the last half minute of finished images, and the
// time left at that pace: what a job's progress bar shows beside it.
const WINDOW_MS = 30_000;

export class Rate {
  private readonly stamps: number[] = [];

  add(unixMs: number): void {
    this.stamps.push(unixMs);
    const from = unixMs - WINDOW_MS;
    while (this.stamps.length > 0 && (this.stamps[0] as number) < from) this.stamps.shift();
  }

  /** Images per second; 0 until two images have finished. */
  perSecond(now = Date.now()): number {
    const first = this.stamps[0];
    if (first === undefined || this.stamps.length < 2) return 0;
    const span = Math.max(now, this.stamps.at(-1) as number) - first;
    return span > 0 ? ((this.stamps.length - 1) * 1000) / span : 0;
  }

  /** Seconds until `remaining` more images at the current pace; Infinity while there is no pace yet. */
  eta(remaining: number, now = Date.now()): number {
    const r = this.perSecond(now);
    return r > 0 ? remaining / r : Infinity;
  }
}
