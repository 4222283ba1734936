// Scale-in of a busy worker, as Kubernetes does it: SIGTERM mid-batch, with a
// second worker connected. Nothing may be lost or rendered twice, what the
// terminated worker held must be leased to the other one as soon as it is
// handed back (not when its lease expires), readiness must go false while it
// drains, and it must exit on its own within its grace period.
import { afterEach, describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { eventually, spawnSimWorker } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, workersConnected, type TestFarm } from './farm.js';

/** What the kubelet would allow before SIGKILL; generous, as the machine is loaded: the drain takes DRAIN_MS plus an exit. */
const GRACE_MS = 30_000;
/**
 * The terminated worker steps slowly (40 steps of 1 s): none of its images can finish before the SIGTERM (however
 * long the second worker takes to start) or within the drain, so all of them are handed back. The other worker is
 * fast, so the test is not long.
 */
const DRAIN_MS = 2000;
const SLOW_STEP_MS = 1000;
const FAST_STEP_MS = 5;
const IMAGES = 8;

describe('a worker SIGTERMed mid-batch', () => {
  let farm: TestFarm | undefined;
  afterEach(async () => {
    await farm?.stop();
    farm = undefined;
  });

  it('hands everything back at once, the other worker leases it, nothing is lost or doubled, and it exits within its grace period', async () => {
    // A lease TTL far longer than the test: only a hand-back can move the images to the other worker in time.
    farm = await startTestFarm(0, {}, { leaseTtlMs: 120_000 });
    // max batch 4 and prefetch 4: the first worker takes all 8 images, renders 4 and holds 4 unstarted.
    const opts = { maxBatch: 4, stepPerImageMs: 0, extra: ['--prefetch', '4', '--drain-timeout-ms', String(DRAIN_MS)] };
    const doomed = await farm.addWorker({ ...opts, stepBaseMs: SLOW_STEP_MS, metrics: true });
    const { job } = await farm.client.submitJob(spec({ params: { ...spec().params!, steps: 40 } }), prompts(IMAGES));
    let watched = false;
    const watching = collect(farm.client, job!.id, { noProgress: true }).finally(() => { watched = true; });
    await eventually(async () => (await farm!.client.getFarmStatus()).workers.find((w) => w.id === doomed.id)?.leased === IMAGES, 30_000, 'the first worker to hold every image');
    // Mid-batch: the first steps of its batch have run (the sim reports progress per step).
    await firstSteps(farm, job!.id);
    const other = spawnSimWorker(farm.coordinator.address, { ...opts, stepBaseMs: FAST_STEP_MS });
    farm.workers.push(other);
    await workersConnected(farm.client, [other.id], [other]);
    expect(workerStatus(await farm.client.getFarmStatus(), other.id)?.leased).toBe(0);

    const metricsPort = await doomed.metricsPort();
    const readyz = `http://127.0.0.1:${metricsPort}/readyz`;
    expect((await fetch(readyz)).status).toBe(200);

    doomed.kill('SIGTERM');
    const graceTimer = setTimeout(() => doomed.kill('SIGKILL'), GRACE_MS);
    const exit = doomed.exited().then((code) => { clearTimeout(graceTimer); return { code, signal: doomed.child.signalCode }; });
    let exited = false;
    void exit.then(() => { exited = true; });

    // Poll the coordinator (in-process metrics and GetFarmStatus) from the SIGTERM on: when did the k-th image go
    // back (released counter), and when did the other worker hold or finish k images?
    const releasedAt: number[] = [];
    const reLeasedAt: number[] = [];
    let sawNotReady = false;
    for (;;) {
      const now = performance.now();
      const released = await requeues(farm, 'released');
      for (let k = releasedAt.length; k < released; k++) releasedAt.push(now);
      const w = workerStatus(await farm.client.getFarmStatus(), other.id);
      const taken = (w?.leased ?? 0) + Number(w?.imagesCompleted ?? 0);
      for (let k = reLeasedAt.length; k < Math.min(taken, IMAGES); k++) reLeasedAt.push(performance.now());
      if (!exited && !sawNotReady) sawNotReady = await fetch(readyz).then((r) => r.status === 503, () => false);
      // A scraper that never pauses (on a kept-alive connection) must not hold the drained worker up.
      if (!exited) await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text(), () => undefined);
      // Done when it has gone and the other worker took all (or the job ended some other way: the checks below say how).
      if (exited && (reLeasedAt.length >= IMAGES || watched)) break;
    }
    const { code, signal } = await exit;
    expect(signal, 'the worker had to be SIGKILLed: it did not exit within its grace period').toBeNull();
    expect(code).toBe(0);
    expect(sawNotReady, '/readyz answered 503 while draining').toBe(true);

    const c = await watching;
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(IMAGES);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    // Every image went back by hand-back (none by the stream closing or a lease expiring), and the other worker rendered them all.
    expect(await requeues(farm, 'released')).toBe(IMAGES);
    expect(await requeues(farm, 'disconnected')).toBe(0);
    expect(await requeues(farm, 'lease_expired')).toBe(0);
    expect(new Set([...c.images.values()].map((e) => e.info.workerId))).toEqual(new Set([other.id]));

    const latencies = releasedAt.map((t, k) => (reLeasedAt[k] ?? Number.NaN) - t);
    // Measured, not asserted (the machine is loaded): hand-back to lease by the other worker, per image, in ms.
    process.stdout.write(`hand-back → re-lease (ms, per image; resolution one poll): ${latencies.map((l) => l.toFixed(1)).join(', ')}; max ${Math.max(...latencies).toFixed(1)}\n`);
  }, 120_000);
});

/** Resolves at the first step progress of the job: its images are mid-render. */
async function firstSteps(farm: TestFarm, jobId: string): Promise<void> {
  const ac = new AbortController();
  for await (const ev of farm.client.watch(jobId, { afterSequence: 0, referencesOnly: true, noProgress: false, signal: ac.signal })) {
    if (ev.type === 'progress' && ev.images.some((i) => i.step >= 1)) break;
  }
  ac.abort();
}

function workerStatus(s: { workers: { id: string; leased: number; imagesCompleted: number | bigint }[] }, id: string) {
  return s.workers.find((w) => w.id === id);
}

async function requeues(farm: TestFarm, reason: string): Promise<number> {
  const m = await farm.registry.getSingleMetric('latentfarm_requeues_total')?.get();
  return m?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
}
