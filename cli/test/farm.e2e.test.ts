// The farm end to end: a coordinator, worker processes, real gRPC on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FinishReason, JobState } from '@latentfarm/proto';
import { decodePng, simPixels } from '@latentfarm/worker';
import { eventually } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';

describe('farm end to end (4 sim worker processes)', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    farm = await startTestFarm(4, { maxBatch: 8, stepBaseMs: 2, stepPerImageMs: 0.1 });
  }, 120_000); // four worker processes starting at once on a loaded machine
  afterAll(async () => farm?.stop());

  it('delivers every image of a 1,000-image job exactly once, from all four workers', async () => {
    const { job } = await farm.client.submitJob(spec(), prompts(250, 4));
    expect(job?.images?.total).toBe(1000);
    const c = await collect(farm.client, job!.id);
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(1000);
    expect([...c.images.values()].every((e) => e.info.finishReason === FinishReason.SUCCESS)).toBe(true);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    const workers = new Set([...c.images.values()].map((e) => e.info.workerId));
    expect(workers.size).toBe(4);
    const done = await farm.client.getJob(job!.id);
    expect(done.images).toMatchObject({ total: 1000, succeeded: 1000, failed: 0 });
    expect(done.spentCredits).toBeCloseTo(done.estimatedCredits, 6);
  });

  it('renders each image from its own seed, whichever worker and batch it lands in', async () => {
    const { job } = await farm.client.submitJob(spec(), [{ prompt: 'p', negativePrompt: '', images: 3, seed: 77 }]);
    await collect(farm.client, job!.id);
    const img = await farm.client.getImage(`${job!.id}/2`);
    expect(img.info.params?.seed).toBe(79);
    const png = decodePng(img.data);
    expect(Buffer.from(png.rgb).equals(Buffer.from(simPixels(64, 64, 79)))).toBe(true);
  });

  it('still delivers every image exactly once when a worker is SIGKILLed mid-job', async () => {
    const slow = spec({ params: { ...spec().params!, steps: 20 } });
    const { job } = await farm.client.submitJob(slow, prompts(400));
    const watching = collect(farm.client, job!.id);
    await eventually(async () => ((await farm.client.getJob(job!.id)).images?.succeeded ?? 0) >= 60, 30_000, '60 images');
    const victim = farm.workers[0]!;
    victim.kill('SIGKILL');
    await victim.exited();
    farm.workers.shift();
    const c = await watching;
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(400);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    await farm.addWorker();
  });

  it('finishes a small job submitted after a large one long before the large one', async () => {
    const slow = spec({ params: { ...spec().params!, steps: 10 } });
    const big = (await farm.client.submitJob(slow, prompts(3000))).job!;
    // Every commit of the big job with its time on the coordinator's clock, read as it streams.
    const ac = new AbortController();
    const bigCommits: number[] = [];
    const watchingBig = (async () => {
      for await (const ev of farm.client.watch(big.id, { referencesOnly: true, noProgress: true, signal: ac.signal })) {
        if (ev.type === 'image') bigCommits.push(ev.unixMs);
      }
    })().catch(() => undefined);
    try {
      await eventually(() => bigCommits.length >= 50, 30_000, 'big job to start');
      const small = (await farm.client.submitJob(slow, prompts(10))).job!;
      const c = await collect(farm.client, small.id);
      expect(c.images.size).toBe(10);
      expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
      const smallDone = Math.max(...[...c.images.values()].map((e) => e.unixMs));
      // The big job's stream is in commit order: once it shows a later commit, it has shown every earlier one.
      await eventually(() => bigCommits.some((t) => t > smallDone), 30_000, 'the big job to go on past the small one');
      // Big-job images committed while the small job waited and ran. With fair share the small job's ten images
      // go out in the next few leases, so this is about what the workers held already (4 × 16 leases) and a few
      // batches more; first come, first served would make it every image the big job had left (over 2,900).
      // A count, not a time: a slow machine changes neither.
      const bigMeanwhile = bigCommits.filter((t) => t >= small.createdUnixMs && t <= smallDone).length;
      expect(bigMeanwhile).toBeLessThan(big.images!.total / 3);
    } finally {
      ac.abort();
      await farm.client.cancelJob(big.id);
      await watchingBig;
    }
  });

  it('cancels a job: leasing stops, workers are told, the job ends CANCELLED', async () => {
    const slow = spec({ params: { ...spec().params!, steps: 20 } });
    const { job } = await farm.client.submitJob(slow, prompts(2000));
    const watching = collect(farm.client, job!.id);
    await eventually(async () => ((await farm.client.getJob(job!.id)).images?.succeeded ?? 0) >= 20, 30_000, 'first images');
    const res = await farm.client.cancelJob(job!.id);
    expect(res.job?.state).toBe(JobState.CANCELLED);
    const c = await watching;
    expect(c.states.at(-1)).toBe(JobState.CANCELLED);
    const after = await farm.client.getJob(job!.id);
    expect(after.images!.cancelled).toBeGreaterThan(0);
    expect(after.images!.succeeded + after.images!.cancelled + after.images!.failed).toBe(2000);
    await eventually(async () => (await farm.client.getFarmStatus()).leasedImages === 0, 10_000, 'leases to end');
    // Nothing renders for a cancelled job afterwards: the farm renders a whole later job, and the cancelled job's
    // counts have not moved meanwhile (a fixed pause would prove nothing on a slow machine).
    const later = (await farm.client.submitJob(spec(), prompts(40))).job!;
    expect((await collect(farm.client, later.id)).states.at(-1)).toBe(JobState.SUCCEEDED);
    expect((await farm.client.getJob(job!.id)).images).toEqual(after.images);
  });

  it('resumes a watch after a disconnect without missing or repeating anything', async () => {
    const slow = spec({ params: { ...spec().params!, steps: 8 } });
    const { job } = await farm.client.submitJob(slow, prompts(300));
    const first = await collect(farm.client, job!.id, { stopAfter: 100 });
    expect(first.images.size).toBe(100);
    const rest = await collect(farm.client, job!.id, { afterSequence: first.lastSequence });
    const overlap = [...rest.images.keys()].filter((id) => first.images.has(id));
    expect(overlap).toEqual([]);
    expect(rest.duplicates).toEqual([]);
    expect(first.images.size + rest.images.size).toBe(300);
    // Images come inline (chunked) when asked for.
    const inline = await collect(farm.client, job!.id, { referencesOnly: false, stopAfter: 1 });
    const img = [...inline.images.values()][0]!;
    expect(img.type === 'image' && decodePng(img.data).width).toBe(64);
  });
});
