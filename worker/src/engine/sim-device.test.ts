import { describe, expect, it } from 'vitest';
import { SimDevice, type DeviceClock } from './sim-device.js';

/** A clock whose every timer wakes `lateMs` after it was due, and where the host spends `hostMs` between steps. */
function lateClock(lateMs: number) {
  let t = 1000;
  const asked: number[] = [];
  const clock: DeviceClock = {
    now: () => t,
    sleep: (ms) => {
      asked.push(ms);
      t += ms + lateMs;
      return Promise.resolve();
    },
  };
  return { clock, asked, advance: (ms: number) => { t += ms; }, now: () => t };
}

describe('SimDevice', () => {
  it('keeps back-to-back steps at their set time on its own clock although every timer wakes late', async () => {
    const c = lateClock(1.5);
    const d = new SimDevice(c.clock);
    const t0 = c.now();
    for (let i = 0; i < 100; i++) {
      await d.step(20);
      c.advance(0.25); // the host's own work between steps: it counts
    }
    // 100 steps of 20 ms, the host's 100 × 0.25 ms, and only the last wake-up's lateness.
    expect(c.now() - t0).toBeCloseTo(100 * 20 + 100 * 0.25 + 1.5, 6);
    expect(c.asked[0]).toBe(20);
    expect(c.asked[1]).toBeCloseTo(18.5, 6);
  });

  it('starts a step that follows idle time at its launch, without credit for the wait', async () => {
    const c = lateClock(3);
    const d = new SimDevice(c.clock);
    await d.step(20);
    c.advance(500); // idle: no images in hand
    await d.step(20);
    expect(c.asked).toEqual([20, 20]);
  });

  it('never starts a step more than one step time before the host launched it', async () => {
    const c = lateClock(50); // the host stalled far longer than a step
    const d = new SimDevice(c.clock);
    await d.step(20);
    await d.step(20);
    expect(c.asked).toEqual([20, 0]);
  });
});
