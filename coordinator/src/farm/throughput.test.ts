import { afterEach, describe, expect, it, vi } from 'vitest';
import { Throughput } from './throughput.js';

describe('farm throughput (GetFarmStatus images_per_second)', () => {
  afterEach(() => vi.useRealTimers());

  it('reports a steady 5 images/s as 5 in the first minute too (not 5 × elapsed / 60)', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_000_000);
    const t = new Throughput();
    for (let ms = 200; ms <= 10_000; ms += 200) {
      vi.setSystemTime(1_000_000 + ms);
      t.add();
    }
    expect(t.perSecond()).toBeCloseTo(5, 1);
    expect(t.coveredSeconds()).toBe(10);
  });
});
