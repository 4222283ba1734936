import { describe, expect, it } from 'vitest';
import { evaluateRule, initialRuleState, type ScalingSettings } from './autoscale-rule.js';
import { generateArrivals, DAY_S } from './autoscale-arrivals.js';
import { simulateDay, type FarmModel } from './autoscale-sim.js';

const settings: ScalingSettings = { target: 100, activation: 0, cooldownS: 300, maxReplicas: 20, scaleDownWindowS: 300 };

/** Steps the rule every 15 s over `values` (one per evaluation) and returns the replica counts. */
function run(s: ScalingSettings, values: number[]): number[] {
  const st = initialRuleState();
  return values.map((v, i) => evaluateRule(s, st, i * 15, v));
}

describe('the KEDA + HPA scaling rule', () => {
  it('stays at zero while idle and activates to one on the first value above activation', () => {
    expect(run(settings, [0, 0, 5, 5])).toEqual([0, 0, 1, 1]);
    expect(run({ ...settings, activation: 10 }, [5, 10, 11])).toEqual([0, 0, 1]);
  });

  it('scales up to ceil(value / target), at most max(2x, +4) per 15 s, capped at maxReplicas', () => {
    // 1 → min(ceil(1750/100)=18, 1+4=5) → min(18, 10) → 18 (within the cap of 20)
    expect(run(settings, [1, 1750, 1750, 1750, 1750])).toEqual([1, 5, 10, 18, 18]);
    expect(run(settings, [1, 5000, 5000, 5000, 5000, 5000])).toEqual([1, 5, 10, 20, 20, 20]);
  });

  it('ignores changes within the 10% tolerance', () => {
    // 10 replicas at target 100: 950 or 1090 is within 10% of 1000.
    expect(run(settings, [1, 1000, 1000, 950, 1090])).toEqual([1, 5, 10, 10, 10]);
  });

  it('scales down only to the highest recommendation of the stabilization window', () => {
    const values = [1, 1000, 1000, ...Array<number>(30).fill(200)];
    const r = run(settings, values);
    expect(r[2]).toBe(10);
    // The window is 300 s = 20 evaluations: still 10 until the last high recommendation ages out.
    expect(r.slice(3, 22).every((n) => n === 10)).toBe(true);
    expect(r[r.length - 1]).toBe(2);
  });

  it('goes to zero only after the value stayed at or below activation for the cooldown', () => {
    const r = run({ ...settings, cooldownS: 60 }, [50, 0, 0, 0, 0, 0]);
    // Active at t=0; idle from t=15; cooldown 60 s from the last active time → zero at t=60.
    expect(r).toEqual([1, 1, 1, 1, 0, 0]);
  });
});

describe('the day simulator', () => {
  const farm: FarmModel = {
    imagesPerWorkerS: 2, leasedPerWorker: 16, nodeProvisionS: 180, modelLoadS: 60, drainS: 5,
    nodeIdleRemoveS: 600, metricLagS: 30, evaluateEveryS: 15,
  };
  const arrivals = generateArrivals({ imagesPerDay: 200_000, peakToMean: 3, peakHour: 15, bursts: 1, burstImages: 20_000, seed: 7 });

  it('is deterministic and accounts for every image', () => {
    const s = { ...settings, query: 'demand' as const, demandS: 60, target: 120, maxReplicas: 64 };
    const a = simulateDay(arrivals, farm, s);
    const b = simulateDay(generateArrivals({ imagesPerDay: 200_000, peakToMean: 3, peakHour: 15, bursts: 1, burstImages: 20_000, seed: 7 }), farm, s);
    expect(b).toEqual(a);
    const total = arrivals.background.reduce((n, v) => n + v, 0) + arrivals.burstImages;
    expect(a.imagesPerGpuHour * a.gpuHours).toBeCloseTo(total, 0);
    // No farm renders more than its GPUs can: images per GPU-hour ≤ 2/s × 3600.
    expect(a.imagesPerGpuHour).toBeLessThanOrEqual(2 * 3600);
    expect(a.unfinished).toBe(0);
    expect(a.timeline).toHaveLength(DAY_S / 60);
  });

  it('waits longer and spends less with a higher target', () => {
    const low = simulateDay(arrivals, farm, { ...settings, query: 'queued', demandS: 0, target: 16, maxReplicas: 64 });
    const high = simulateDay(arrivals, farm, { ...settings, query: 'queued', demandS: 0, target: 1024, maxReplicas: 64 });
    expect(high.gpuHours).toBeLessThan(low.gpuHours);
    expect(high.waitP95S).toBeGreaterThan(low.waitP95S);
  });
});
