import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { batchMetrics, workerMetrics } from './metrics.js';

/** The sum of a metric's series named `name` (a histogram's `_sum`, `_count`, … are series of their own). */
const value = async (registry: Registry, name: string): Promise<number> => {
  let total = 0;
  for (const m of await registry.getMetricsAsJSON()) {
    for (const v of m.values as { value: number; metricName?: string }[]) if ((v.metricName ?? m.name) === name) total += v.value;
  }
  return total;
};

describe('batchMetrics', () => {
  it('records a step once the turn that reported it is over, with the time the batcher reported it', async () => {
    const registry = new Registry();
    const observer = batchMetrics(workerMetrics(registry), 8);
    const before = Date.now() / 1000;
    observer.onStep?.('sim|64x64', 6, 0.02);
    observer.onGap?.(0.001);
    const after = Date.now() / 1000;
    // Not yet: the next step is launched in this turn, before any bookkeeping.
    expect(await value(registry, 'latentfarm_worker_steps_total')).toBe(0);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(await value(registry, 'latentfarm_worker_steps_total')).toBe(6);
    expect(await value(registry, 'latentfarm_worker_step_gap_seconds_total')).toBeCloseTo(0.001, 9);
    expect(await value(registry, 'latentfarm_unet_call_seconds_count')).toBe(1);
    expect(await value(registry, 'latentfarm_batch_fill_ratio_sum')).toBeCloseTo(0.75, 9);
    const lastStep = await value(registry, 'latentfarm_worker_last_step_timestamp_seconds');
    expect(lastStep).toBeGreaterThanOrEqual(before);
    expect(lastStep).toBeLessThanOrEqual(after);
  });
});
