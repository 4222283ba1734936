// Several coordinators on one NATS serve one farm: any of them takes
// submissions, watches, cancels and workers, and an idempotency key makes one
// job however many coordinators it reaches at once.
import { describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { eventually } from '@latentfarm/testkit';
import { prompts } from './farm.js';
import { oneJobPerKey } from './durability-cases.js';
import {
  allSucceeded, imagesSeen, jobSpec, startDurableFarm, stopsAfterEachTest, watchJob, workersConnected, TEST_BUDGET_MS, WORKER, type DurableFarm,
} from './durability.js';

const IMAGES = 2000;

describe('two coordinators on one JetStream (2,000 images, 4 sim workers)', () => {
  const stopped = stopsAfterEachTest();

  /** Two coordinators, two workers on each, with known worker ids. */
  async function twoCoordinators(): Promise<DurableFarm> {
    const farm = stopped(await startDurableFarm({ coordinators: 2 }));
    const [c1, c2] = farm.coordinators as [typeof farm.coordinators[0], typeof farm.coordinators[0]];
    const on = (c: typeof c1, name: string) => [0, 1].map((i) => farm.addWorker(c, { ...WORKER, id: `w-${name}${i}` }));
    const [a, b] = [on(c1, 'a'), on(c2, 'b')];
    await Promise.all([workersConnected(c1, a), workersConnected(c2, b)]);
    return farm;
  }

  it('makes one job of the same idempotency key submitted 50 times at once, through both coordinators', async () => {
    await oneJobPerKey(await twoCoordinators());
  }, TEST_BUDGET_MS);

  it('serves one job from both coordinators: submitted through one, watched through the other; cancel works across them', async () => {
    const f = await twoCoordinators();
    const [c1, c2] = [f.coordinators[0]!, f.coordinators[1]!];
    const { job } = await c2.client.submitJob(jobSpec(), prompts(IMAGES));
    const seen = await watchJob(c1.client, job!.id).done;
    expect(seen.duplicates).toEqual([]);
    expect(seen.images.size).toBe(IMAGES);
    expect(allSucceeded(seen)).toBe(true);
    expect(seen.states.at(-1)).toBe(JobState.SUCCEEDED);
    // Workers on both coordinators rendered it.
    const by = new Set([...seen.images.values()].map((e) => e.info.workerId.slice(0, 3)));
    expect([...by].sort()).toEqual(['w-a', 'w-b']);
    for (const c of [c1, c2]) expect((await c.client.getJob(job!.id)).images).toMatchObject({ total: IMAGES, succeeded: IMAGES, failed: 0 });

    // Cancel: submitted through the first, cancelled through the second, watched through the first.
    const slow = jobSpec({ params: { ...jobSpec().params!, steps: 40 } });
    const big = (await c1.client.submitJob(slow, prompts(IMAGES))).job!;
    const w = watchJob(c1.client, big.id);
    await imagesSeen(w, 100);
    const res = await c2.client.cancelJob(big.id);
    expect(res.job?.state).toBe(JobState.CANCELLED);
    const ended = await w.done;
    expect(ended.states.at(-1)).toBe(JobState.CANCELLED);
    expect(ended.duplicates).toEqual([]);
    // Both coordinators stop leasing it and their workers let go of it.
    for (const c of [c1, c2]) await eventually(async () => (await c.client.getFarmStatus()).leasedImages === 0, 15_000, `leases to end on ${c.address}`);
    const after = await c1.client.getJob(big.id);
    expect(after.state).toBe(JobState.CANCELLED);
    expect(after.images!.cancelled).toBeGreaterThan(0);
    expect(after.images!.succeeded + after.images!.cancelled + after.images!.failed).toBe(IMAGES);
    // Nothing renders for it afterwards: the farm renders a whole later job, and the cancelled job's counts
    // have not moved meanwhile (a fixed pause would prove nothing on a slow machine).
    const later = (await c2.client.submitJob(jobSpec(), prompts(40))).job!;
    expect((await watchJob(c1.client, later.id).done).states.at(-1)).toBe(JobState.SUCCEEDED);
    expect((await c2.client.getJob(big.id)).images).toEqual(after.images);
  }, TEST_BUDGET_MS);
});
