import { describe, expect, it } from 'vitest';
import { SlidingRate } from './rate.js';

describe('SlidingRate', () => {
  // A steady source: one event every 200 ms (5 per second) from t0 on.
  const steady = (rate: SlidingRate, t0: number, untilMs: number, clock: { t: number }) => {
    for (let t = t0 + 200; t <= untilMs; t += 200) {
      clock.t = t;
      rate.add(1, t);
    }
  };

  it('reads a steady source right from its first seconds, not a sixth of it', () => {
    const clock = { t: 1_000_000 };
    const rate = new SlidingRate(60_000, clock.t, () => clock.t);
    steady(rate, 1_000_000, 1_010_000, clock);
    expect(rate.perSecond()).toBeCloseTo(5, 1);
    expect(rate.coveredSeconds()).toBe(10);
  });

  it('covers the last minute once a minute has passed, and forgets what is older', () => {
    const clock = { t: 1_000_000 };
    const rate = new SlidingRate(60_000, clock.t, () => clock.t);
    steady(rate, 1_000_000, 1_120_000, clock);
    expect(rate.perSecond()).toBeCloseTo(5, 1);
    expect(rate.coveredSeconds()).toBe(60);
    clock.t += 61_000; // a quiet minute
    expect(rate.perSecond()).toBe(0);
  });

  it('counts events by when they happened, however late they are added (a replayed stream)', () => {
    const clock = { t: 2_000_000 };
    const rate = new SlidingRate(60_000, 2_000_000 - 20_000, () => clock.t);
    // 100 events of the last 20 s, all learned of now; 50 from long ago are ignored.
    for (let i = 0; i < 100; i++) rate.add(1, clock.t - 20_000 + i * 200);
    for (let i = 0; i < 50; i++) rate.add(1, clock.t - 600_000);
    expect(rate.perSecond()).toBeCloseTo(5, 1);
  });
});
