// Worker processes coming and going: drain on SIGTERM, failing renders,
// a frozen worker whose leases lapse, and reconnects.
import { afterEach, describe, expect, it } from 'vitest';
import { FinishReason, JobState } from '@latentfarm/proto';
import { eventually, openPortGate, spawnSimWorker, type PortGate, type SimWorker } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';

describe('worker lifecycle', () => {
  let farm: TestFarm | undefined;
  let gate: PortGate | undefined;
  afterEach(async () => {
    await farm?.stop();
    await gate?.close();
    farm = undefined;
    gate = undefined;
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
    // Steps slow enough that the worker surely holds unfinished images when it freezes.
    farm = await startTestFarm(1, { stepBaseMs: 20 }, { leaseTtlMs: 1000 });
    const frozen = farm.workers[0] as SimWorker;
    const { job } = await farm.client.submitJob(spec({ params: { ...spec().params!, steps: 20 } }), prompts(40));
    await eventually(async () => (await farm!.client.getFarmStatus()).workers.find((w) => w.id === frozen.id && w.leased > 0), 10_000, 'leases');
    frozen.kill('SIGSTOP');
    // Its TCP connection stays up: only its silence can tell the coordinator it is gone.
    const fresh = await farm.addWorker();
    await eventually(async () => !(await farm!.client.getFarmStatus()).workers.some((w) => w.id === frozen.id), 10_000, 'the frozen worker to be dropped');
    const c = await collect(farm.client, job!.id);
    expect(c.images.size).toBe(40);
    expect(c.duplicates).toEqual([]);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    // The frozen worker's leases went back because they lapsed (not because its stream ended), and the other
    // worker rendered what was left: the frozen one never ran again.
    expect(await requeues(farm, 'lease_expired')).toBeGreaterThan(0);
    expect(await requeues(farm, 'disconnected')).toBe(0);
    const by = new Set([...c.images.values()].map((e) => e.info.workerId));
    expect(by.has(fresh.id)).toBe(true);
    expect([...by].every((id) => id === frozen.id || id === fresh.id)).toBe(true);
    frozen.kill('SIGKILL');
  });

  it('a second worker process with the same id takes it over, and the first stops saying why', async () => {
    farm = await startTestFarm(1);
    const first = farm.workers[0] as SimWorker;
    const second = await farm.addWorker({ id: first.id });
    // Were the first to reconnect, the two would take the id from each other for as long as both ran.
    expect(await first.exited()).toBe(1);
    expect(first.output()).toContain(`latentfarm worker: another connection as worker "${first.id}" took this one's place at ${farm.coordinator.address}: ` +
      'two worker processes must not share an id');
    const { job } = await farm.client.submitJob(spec(), prompts(20));
    const c = await collect(farm.client, job!.id);
    expect(c.images.size).toBe(20);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    expect((await farm.client.getFarmStatus()).workers.map((w) => w.id)).toEqual([first.id]);
    expect(await requeues(farm, 'replaced')).toBe(0);
    expect(second.output()).not.toContain('reconnecting');
  });

  it('a worker started before its coordinator connects once the coordinator is up', async () => {
    // The worker dials a port this test holds and refuses, until the coordinator is there to forward to.
    gate = await openPortGate();
    const early = spawnSimWorker(gate.address);
    // It booted, was turned away, and tried again.
    await Promise.race([gate.refused(2), early.exited().then(() => { throw new Error(`the worker gave up:\n${early.output()}`); })]);
    farm = await startTestFarm(0, {}, {}, [early], (port) => gate!.forwardTo(port));
    const { job } = await farm.client.submitJob(spec(), prompts(30));
    const c = await collect(farm.client, job!.id);
    expect(c.images.size).toBe(30);
    expect(new Set([...c.images.values()].map((e) => e.info.workerId))).toEqual(new Set([early.id]));
  });
});

/** latentfarm_requeues_total{reason} of the farm's coordinator. */
async function requeues(farm: TestFarm, reason: string): Promise<number> {
  const m = await farm.registry.getSingleMetric('latentfarm_requeues_total')?.get();
  return m?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}
