// Worker processes coming and going: drain on SIGTERM, failing renders,
// a frozen worker whose leases lapse, and reconnects.
import { afterEach, describe, expect, it } from 'vitest';
import { FinishReason, JobState } from '@latentfarm/proto';
import { eventually, freePort, spawnSimWorker } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';

describe('worker lifecycle', () => {
  let farm: TestFarm | undefined;
  afterEach(async () => {
    await farm?.stop();
    farm = undefined;
  });

  it('on SIGTERM a worker hands back its work, exits 0, and the job completes exactly once', async () => {
    farm = await startTestFarm(2, { stepBaseMs: 20, stepPerImageMs: 1, maxBatch: 4 });
    const slow = spec({ params: { ...spec().params!, steps: 10 } });
    const { job } = await farm.client.submitJob(slow, prompts(120));
    const watching = collect(farm.client, job!.id);
    await eventually(async () => ((await farm!.client.getJob(job!.id)).images?.succeeded ?? 0) >= 10, 30_000, 'first images');
    const w = farm.workers[0]!;
    w.kill('SIGTERM');
    expect(await w.exited()).toBe(0);
    const c = await watching;
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(120);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
  });

  it('fails only the images that keep failing; the job ends PARTIAL with the reason', async () => {
    farm = await startTestFarm(2, { extra: ['--sim-fail-marker', 'POISON'] }, { maxAttempts: 3 });
    const entries = prompts(20);
    entries[3] = { prompt: 'a POISON prompt', negativePrompt: '', images: 2 };
    const { job } = await farm.client.submitJob(spec(), entries);
    const c = await collect(farm.client, job!.id);
    expect(c.images.size).toBe(21);
    const failed = [...c.images.values()].filter((e) => e.info.finishReason === FinishReason.ERROR);
    expect(failed.map((e) => e.info.index).sort()).toEqual([3, 4]);
    expect(failed[0]!.info.error).toMatch(/failed 3 times; last error: .*fail marker/);
    expect(c.states.at(-1)).toBe(JobState.PARTIAL);
  });

  it('takes the leases of a frozen worker back when it stops heartbeating', async () => {
    farm = await startTestFarm(1, { stepBaseMs: 5 }, { leaseTtlMs: 1000 });
    const { job } = await farm.client.submitJob(spec({ params: { ...spec().params!, steps: 50 } }), prompts(40));
    await eventually(async () => (await farm!.client.getFarmStatus()).leasedImages > 0, 10_000, 'leases');
    farm.workers[0]!.kill('SIGSTOP');
    await farm.addWorker();
    const c = await collect(farm.client, job!.id);
    expect(c.images.size).toBe(40);
    expect(c.duplicates).toEqual([]);
    expect(new Set([...c.images.values()].map((e) => e.info.workerId)).size).toBeGreaterThanOrEqual(1);
    farm.workers[0]!.kill('SIGKILL');
  });

  it('a worker started before its coordinator connects once the coordinator is up', async () => {
    const port = await freePort();
    const early = spawnSimWorker(`127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 1500)); // it boots and fails to connect a few times
    farm = await startTestFarm(0, {}, { port }, [early]);
    const { job } = await farm.client.submitJob(spec(), prompts(30));
    expect((await collect(farm.client, job!.id)).images.size).toBe(30);
  });
});
