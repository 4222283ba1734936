// Lease epochs and requeues, driven directly with fake worker links.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageFormat, JobState, Scheduler } from '@latentfarm/proto';
import type { Registry } from '@latentfarm/common';
import type { Farm } from './farm.js';
import { hello, link, result, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN as P } from './principal.js';

describe('Farm leases', () => {
  let t: TestFarm;
  let farm: Farm;
  let registry: Registry;
  beforeEach(async () => {
    t = await testFarm(undefined, { maxAttempts: 2 });
    ({ farm, registry } = t);
  });
  afterEach(() => t.close());

  const submit = (n: number) => farm.submit(
    P,
    { model: 'sim', priority: 0, labels: {}, idempotencyKey: '', params: { width: 64, height: 64, steps: 2, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG } },
    Array.from({ length: n }, (_, i) => ({ prompt: `p${i}`, negativePrompt: '', images: 1 })),
  );

  it('leases only up to the credit granted, then more as credit returns', async () => {
    await submit(10);
    const a = link();
    const s = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(s, 3);
    await farm.settled();
    expect(a.leased()).toHaveLength(3);
    farm.grantCredit(s, 2);
    await farm.settled();
    expect(a.leased()).toHaveLength(5);
  });

  it('drops a late result from a worker whose lease went to another (epoch fence)', async () => {
    const { job } = await submit(1);
    const a = link();
    const sa = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(sa, 1);
    await farm.settled();
    const first = a.leased()[0]!;
    farm.dropWorker(sa, 'lease_expired');
    const b = link();
    const sb = farm.attachWorker(P, hello('b'), b);
    farm.grantCredit(sb, 1);
    await farm.settled();
    const second = b.leased()[0]!;
    expect(second.taskId).toBe(first.taskId);
    expect(second.epoch).toBeGreaterThan(first.epoch);
    await farm.acceptResult(sa, result(first)); // late: dropped
    await farm.acceptResult(sb, result(second));
    await farm.acceptResult(sb, result(second)); // duplicate: dropped
    await farm.settled();
    const j = await farm.job(P, job.id);
    expect(j.images?.succeeded).toBe(1);
    expect(j.state).toBe(JobState.SUCCEEDED);
    const dropped = await registry.getSingleMetric('latentfarm_results_dropped_total')!.get();
    expect(dropped.values[0]!.value).toBe(2);
  });

  it('fails an image after max attempts, and the rest of the job goes on', async () => {
    const { job } = await submit(2);
    const a = link();
    const s = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(s, 2);
    await farm.settled();
    const [t0, t1] = a.leased();
    await farm.acceptFailure(s, { taskId: t0!.taskId, epoch: t0!.epoch, reason: 'boom', retryable: true });
    farm.grantCredit(s, 1);
    await farm.settled();
    const retry = a.leased()[2]!;
    expect(retry.taskId).toBe(t0!.taskId);
    await farm.acceptFailure(s, { taskId: retry.taskId, epoch: retry.epoch, reason: 'boom again', retryable: true });
    await farm.acceptResult(s, result(t1!));
    await farm.settled();
    const j = await farm.job(P, job.id);
    expect(j.images).toMatchObject({ succeeded: 1, failed: 1 });
    expect(j.state).toBe(JobState.PARTIAL);
  });

  it('fails a non-retryable error at once', async () => {
    const { job } = await submit(1);
    const a = link();
    const s = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(s, 1);
    await farm.settled();
    const t = a.leased()[0]!;
    await farm.acceptFailure(s, { taskId: t.taskId, epoch: t.epoch, reason: 'prompt cannot be encoded', retryable: false });
    await farm.settled();
    expect((await farm.job(P, job.id)).state).toBe(JobState.FAILED);
  });

  it('puts the leases of a disconnected worker back in the queue', async () => {
    const { job } = await submit(4);
    const a = link();
    const sa = farm.attachWorker(P, hello('a'), a);
    farm.grantCredit(sa, 4);
    await farm.settled();
    farm.dropWorker(sa, 'disconnected');
    expect(a.closed).toBe(true);
    expect(farm.status(P).leasedImages).toBe(0);
    const b = link();
    const sb = farm.attachWorker(P, hello('b'), b);
    farm.grantCredit(sb, 4);
    await farm.settled();
    for (const t of b.leased()) await farm.acceptResult(sb, result(t));
    expect((await farm.job(P, job.id)).images?.succeeded).toBe(4);
  });
});
