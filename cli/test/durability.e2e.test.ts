// Fault tests on the JetStream store: a 2,000-image job on 4 sim workers
// survives coordinators, nats-server and workers being killed or stalled
// mid-job, the watching client sees every image exactly once, and the
// paying tenant's credits balance to the unit (durability-cases.ts).
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { eventually } from '@latentfarm/testkit';
import type { ServiceError } from '@latentfarm/client';
import { prompts } from './farm.js';
import { coordinatorKilledFiveTimes, expectAllDelivered, expectExactlyOnce, jobUnderWay, workersKilledTenTimes } from './durability-cases.js';
import { healthStatus, imagesSeen, jobSpec, startDurableFarm, stopsAfterEachTest, TEST_BUDGET_MS } from './durability.js';

/** How long NATS stays stalled: the fault's length (ten lease TTLs, so leases lapse meanwhile), not a wait for an event. */
const STALL_MS = 30_000;

describe('durability on JetStream (2,000 images, 4 sim workers)', () => {
  const stopped = stopsAfterEachTest();

  it('loses and duplicates nothing when the coordinator is SIGKILLed 5 times', async () => {
    await coordinatorKilledFiveTimes(stopped(await startDurableFarm({ metered: true })));
  }, TEST_BUDGET_MS);

  it('loses and duplicates nothing when nats-server is SIGKILLed and restarted twice', async () => {
    const f = stopped(await startDurableFarm({ metered: true }));
    const job = await jobUnderWay(f);
    const { c, w } = job;
    for (const at of [500, 1200]) {
      await imagesSeen(w, at);
      await f.nats.kill('SIGKILL');
      // The coordinator has seen NATS go (its store turned unhealthy) before NATS comes back.
      await eventually(async () => (await healthStatus(c.address)) === 'NOT_SERVING', 15_000, 'the coordinator to notice');
      await f.nats.restart();
    }
    await expectAllDelivered(job);
  }, TEST_BUDGET_MS);

  it('reports NOT_SERVING and refuses jobs while NATS is unreachable for 30 s, then recovers by itself', async () => {
    const f = stopped(await startDurableFarm());
    const { c, w } = await jobUnderWay(f);
    await imagesSeen(w, 400);
    expect(await healthStatus(c.address)).toBe('SERVING');
    const stalledAt = Date.now();
    f.nats.pause();
    await eventually(async () => (await healthStatus(c.address)) === 'NOT_SERVING', 15_000, 'NOT_SERVING');
    const refused = await c.client.submitJob(jobSpec(), prompts(10)).then(() => undefined, (err: ServiceError) => err);
    expect(refused?.code).toBe(status.UNAVAILABLE);
    const during = w.images();
    await new Promise((r) => setTimeout(r, Math.max(0, STALL_MS - (Date.now() - stalledAt))));
    // Nothing was committed while the store was away.
    expect(w.images()).toBe(during);
    f.nats.resume();
    await eventually(async () => (await healthStatus(c.address)) === 'SERVING', 30_000, 'SERVING again');
    const after = await c.client.submitJob(jobSpec(), prompts(4));
    expect(after.created).toBe(true);
    expectExactlyOnce(await w.done);
  }, TEST_BUDGET_MS);

  it('loses and duplicates nothing when workers are SIGKILLed 10 times', async () => {
    await workersKilledTenTimes(stopped(await startDurableFarm({ metered: true })));
  }, TEST_BUDGET_MS);
});
