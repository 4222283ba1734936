// The farm's periodic duties (lease sweeps, gauges, dispatch ticks): each part
// registers its own with the period it needs, and the farm stops them all at
// close. Timers are unref'd so they never keep the process alive.
export class Timers {
  private readonly timers: NodeJS.Timeout[] = [];

  every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }
}
