// The sim engine's device: one batched step takes a given time on the
// device's own clock. A Node timer wakes the host late (timers are whole
// milliseconds, and with many simulated workers on a few cores another one's
// callback may be running), which a real device's completion does not: left
// alone, that lateness piles up step after step, so "20 ms" steps took about
// 20.6 ms on an idle machine. Here a step that follows the previous one
// directly starts when the host would have launched it had it seen the last
// one end on time; the host's own time between steps still counts in full.
import { setTimeout as sleep } from 'node:timers/promises';

/** The clock and timer the device runs on (real ones by default; tests pass their own). */
export interface DeviceClock {
  now(): number;
  /** Resolves after about `ms` (a Node timer: whole milliseconds, often late). */
  sleep(ms: number): Promise<void>;
}

const realClock: DeviceClock = {
  now: () => performance.now(),
  // A timer shorter than 1 ms is 1 ms in Node: yield once instead, and let the next step make up for waking early.
  sleep: (ms) => (ms >= 1 ? sleep(ms).then(() => undefined) : new Promise<void>((resolve) => setImmediate(resolve))),
};

export class SimDevice {
  constructor(private readonly clock: DeviceClock = realClock) {}

  /** When the last step ended on the device's clock, and when the host woke up to it (performance.now() ms). */
  private lastEnd = -Infinity;
  private lastWake = -Infinity;

  async step(ms: number): Promise<void> {
    const launch = this.clock.now();
    const hostGap = launch - this.lastWake;
    // Back to back (the host launched this step within one step time of seeing the last end), the step starts the
    // host's gap after the last one ended, but never more than one step time before its launch; else at launch.
    const start = hostGap < ms ? Math.max(this.lastEnd + hostGap, launch - ms) : launch;
    const end = start + ms;
    await this.clock.sleep(Math.max(0, end - this.clock.now()));
    this.lastEnd = end;
    this.lastWake = this.clock.now();
  }
}
