// The fault cases every store must pass, written once: the JetStream suite
// (durability.e2e.test.ts, durability-multi.e2e.test.ts) and the embedded one
// (durability-embedded.e2e.test.ts) run them on their own farms.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { prompts, type Collected } from './farm.js';
import { allSucceeded, imagesSeen, jobSpec, watchJob, workersConnected, type CoordinatorProcess, type FaultFarm } from './durability.js';

export const IMAGES = 2000;

export interface JobUnderWay {
  c: CoordinatorProcess;
  jobId: string;
  w: ReturnType<typeof watchJob>;
}

/** 4 workers on the farm's first coordinator, running a 2,000-image job that a client watches. */
export async function jobUnderWay(f: FaultFarm): Promise<JobUnderWay> {
  const c = f.coordinators[0]!;
  const workers = Array.from({ length: 4 }, () => f.addWorker(c));
  await workersConnected(c, workers);
  const { job } = await c.client.submitJob(jobSpec(), prompts(IMAGES));
  return { c, jobId: job!.id, w: watchJob(c.client, job!.id) };
}

export function expectExactlyOnce(c: Collected): void {
  expect(c.duplicates).toEqual([]);
  expect(c.images.size).toBe(IMAGES);
  expect(allSucceeded(c)).toBe(true);
  expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
}

/** Every image reached the watcher exactly once, and the job's own counts agree. */
export async function expectAllDelivered({ c, jobId, w }: JobUnderWay): Promise<void> {
  expectExactlyOnce(await w.done);
  expect((await c.client.getJob(jobId)).images).toMatchObject({ total: IMAGES, succeeded: IMAGES, failed: 0 });
}

/** The coordinator is SIGKILLed 5 times during the watched job, and restarted on its port each time. */
export async function coordinatorKilledFiveTimes(f: FaultFarm): Promise<void> {
  const job = await jobUnderWay(f);
  for (let k = 1; k <= 5; k++) {
    await imagesSeen(job.w, k * 300);
    await job.c.restart();
  }
  await expectAllDelivered(job);
}

/** A worker is SIGKILLed 10 times during the watched job, and another one started each time. */
export async function workersKilledTenTimes(f: FaultFarm): Promise<void> {
  const job = await jobUnderWay(f);
  for (let k = 1; k <= 10; k++) {
    await imagesSeen(job.w, k * 150);
    const live = f.workers.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const victim = live[k % live.length]!;
    victim.kill('SIGKILL');
    await victim.exited();
    f.addWorker(job.c);
  }
  await expectAllDelivered(job);
}

/** 50 submissions of one idempotency key at once, spread over the farm's coordinators: one job, rendered once. Workers must be connected. */
export async function oneJobPerKey(f: FaultFarm): Promise<void> {
  const run = randomBytes(4).toString('hex');
  const key = `durability-${run}`;
  const cs = f.coordinators;
  const submits = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    cs[i % cs.length]!.client.submitJob(jobSpec({ idempotencyKey: key, labels: { run } }), prompts(IMAGES))));
  const ids = new Set(submits.map((s) => s.job?.id));
  expect(ids.size).toBe(1);
  expect(submits.filter((s) => s.created)).toHaveLength(1);
  const jobId = [...ids][0]!;
  for (const c of cs) {
    const listed = await c.client.listJobs({ labels: { run } });
    expect(listed.jobs.map((j) => j.id)).toEqual([jobId]);
  }
  const seen = await watchJob(cs.at(-1)!.client, jobId).done;
  expectExactlyOnce(seen);
}
