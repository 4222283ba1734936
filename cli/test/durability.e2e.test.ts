// Fault tests on the JetStream store: a 2,000-image job on 4 sim workers
// survives coordinators, nats-server and workers being killed or stalled
// mid-job, and the watching client sees every image exactly once.
import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { JobState } from '@latentfarm/proto';
import { eventually } from '@latentfarm/testkit';
import type { ServiceError } from '@latentfarm/client';
import { prompts } from './farm.js';
import {
  allSucceeded, healthStatus, imagesSeen, jobSpec, startDurableFarm, stopsAfterEachTest, watchJob, workersConnected, TEST_BUDGET_MS,
  type CoordinatorProcess, type DurableFarm,
} from './durability.js';

const IMAGES = 2000;
/** How long NATS stays stalled: the fault's length (ten lease TTLs, so leases lapse meanwhile), not a wait for an event. */
const STALL_MS = 30_000;

describe('durability on JetStream (2,000 images, 4 sim workers)', () => {
  const stopped = stopsAfterEachTest();

  /** A farm with 4 workers on one coordinator, running a 2,000-image job that a client watches. */
  async function jobUnderWay(): Promise<{ f: DurableFarm; c: CoordinatorProcess; jobId: string; w: ReturnType<typeof watchJob> }> {
    const f = stopped(await startDurableFarm());
    const c = f.coordinators[0]!;
    const workers = Array.from({ length: 4 }, () => f.addWorker(c));
    await workersConnected(c, workers);
    const { job } = await c.client.submitJob(jobSpec(), prompts(IMAGES));
    return { f, c, jobId: job!.id, w: watchJob(c.client, job!.id) };
  }

  function expectExactlyOnce(c: Awaited<ReturnType<typeof watchJob>['done']>): void {
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(IMAGES);
    expect(allSucceeded(c)).toBe(true);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
  }

  /** Every image reached the watcher exactly once, and the job's own counts agree. */
  async function expectAllDelivered(c: CoordinatorProcess, jobId: string, w: ReturnType<typeof watchJob>): Promise<void> {
    expectExactlyOnce(await w.done);
    expect((await c.client.getJob(jobId)).images).toMatchObject({ total: IMAGES, succeeded: IMAGES, failed: 0 });
  }

  it('loses and duplicates nothing when the coordinator is SIGKILLed 5 times', async () => {
    const { c, jobId, w } = await jobUnderWay();
    for (let k = 1; k <= 5; k++) {
      await imagesSeen(w, k * 300);
      await c.restart();
    }
    await expectAllDelivered(c, jobId, w);
  }, TEST_BUDGET_MS);

  it('loses and duplicates nothing when nats-server is SIGKILLed and restarted twice', async () => {
    const { f, c, jobId, w } = await jobUnderWay();
    for (const at of [500, 1200]) {
      await imagesSeen(w, at);
      await f.nats.kill('SIGKILL');
      // The coordinator has seen NATS go (its store turned unhealthy) before NATS comes back.
      await eventually(async () => (await healthStatus(c.address)) === 'NOT_SERVING', 15_000, 'the coordinator to notice');
      await f.nats.restart();
    }
    await expectAllDelivered(c, jobId, w);
  }, TEST_BUDGET_MS);

  it('reports NOT_SERVING and refuses jobs while NATS is unreachable for 30 s, then recovers by itself', async () => {
    const { f, c, w } = await jobUnderWay();
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
    const { f, c, jobId, w } = await jobUnderWay();
    for (let k = 1; k <= 10; k++) {
      await imagesSeen(w, k * 150);
      const live = f.workers.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
      const victim = live[k % live.length]!;
      victim.kill('SIGKILL');
      await victim.exited();
      f.addWorker(c);
    }
    await expectAllDelivered(c, jobId, w);
  }, TEST_BUDGET_MS);
});
