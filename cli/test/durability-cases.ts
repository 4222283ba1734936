// The fault cases every store must pass, written once: the JetStream suite
// (durability.e2e.test.ts, durability-multi.e2e.test.ts) and the embedded one
// (durability-embedded.e2e.test.ts) run them on their own farms. On a metered
// farm (keys on) the job is a tenant's, and its credits must balance at the end.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { CreditsEntryKind, JobState, type CreditsEntry } from '@latentfarm/proto';
import { eventually } from '@latentfarm/testkit';
import { prompts, type Collected } from './farm.js';
import { allSucceeded, imagesSeen, jobSpec, watchJob, workersConnected, type CoordinatorProcess, type FaultFarm } from './durability.js';

export const IMAGES = 2000;

export interface JobUnderWay {
  c: CoordinatorProcess;
  jobId: string;
  w: ReturnType<typeof watchJob>;
  /** The tenant paying for it on a metered farm; undefined: an admin's job, unmetered. */
  tenantId: string | undefined;
}

/** 4 workers on the farm's first coordinator, running a 2,000-image job that a client (a metered farm: the tenant) watches. */
export async function jobUnderWay(f: FaultFarm): Promise<JobUnderWay> {
  const c = f.coordinators[0]!;
  const workers = Array.from({ length: 4 }, () => f.addWorker(c));
  await workersConnected(c, workers);
  const { job } = await c.submitter.submitJob(jobSpec(), prompts(IMAGES));
  return { c, jobId: job!.id, w: watchJob(c.submitter, job!.id), tenantId: f.tenantId };
}

export function expectExactlyOnce(c: Collected): void {
  expect(c.duplicates).toEqual([]);
  expect(c.images.size).toBe(IMAGES);
  expect(allSucceeded(c)).toBe(true);
  expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
}

/** Every image reached the watcher exactly once, and the job's own counts agree; a paid job's credits balance. */
export async function expectAllDelivered({ c, jobId, w, tenantId }: JobUnderWay): Promise<void> {
  expectExactlyOnce(await w.done);
  const job = await c.client.getJob(jobId);
  expect(job.images).toMatchObject({ total: IMAGES, succeeded: IMAGES, failed: 0 });
  if (tenantId !== undefined) {
    const settled = await expectLedgerBalanced(c, tenantId);
    // Every image succeeded: the whole reservation is charged, exactly once.
    expect(settled.get(jobId)).toEqual({ reserved: units(job.estimatedCredits), settled: units(job.estimatedCredits), refunded: 0 });
  }
}

const units = (credits: number): number => Math.round(credits * 1_000_000);

/**
 * The tenant's ledger balances once every job has ended: each job reserved once and settled once, with
 * reserved = settled + refunded, nothing left open, and balance = grants − settled − open. The last settle
 * lands a moment after its job's end event (a crash may leave it to the reconciler, every 30 s): awaited.
 * Returns each job's settlement, in units.
 */
export async function expectLedgerBalanced(c: CoordinatorProcess, tenantId: string): Promise<Map<string, { reserved: number; settled: number; refunded: number }>> {
  const account = await eventually(async () => {
    const a = (await c.client.getCredits({ tenantId })).account;
    return a !== undefined && a.openJobs === 0 ? a : undefined;
  }, 90_000, `every reservation of ${tenantId} settled`);
  const entries: CreditsEntry[] = [];
  for (let token = ''; ;) {
    const page = await c.client.getCredits({ tenantId, pageSize: 1000, pageToken: token });
    entries.push(...page.entries);
    token = page.nextPageToken;
    if (token === '') break;
  }
  const reserved = new Map<string, number>();
  const settled = new Map<string, { reserved: number; settled: number; refunded: number }>();
  let granted = 0;
  for (const e of entries) {
    if (e.kind === CreditsEntryKind.GRANT) granted += units(e.amount);
    if (e.kind === CreditsEntryKind.RESERVE) {
      expect(reserved.has(e.jobId), `job ${e.jobId} reserved twice`).toBe(false);
      reserved.set(e.jobId, units(e.amount));
    }
    if (e.kind === CreditsEntryKind.SETTLE) {
      expect(settled.has(e.jobId), `job ${e.jobId} settled twice`).toBe(false);
      settled.set(e.jobId, { reserved: units(e.amount), settled: units(e.settled), refunded: units(e.refunded) });
    }
  }
  expect([...settled.keys()].sort()).toEqual([...reserved.keys()].sort());
  let totalSettled = 0;
  for (const [jobId, s] of settled) {
    expect(s.reserved, `job ${jobId}`).toBe(reserved.get(jobId));
    expect(s.settled + s.refunded, `job ${jobId}: reserved = settled + refunded`).toBe(s.reserved);
    totalSettled += s.settled;
  }
  expect(units(account.open)).toBe(0);
  expect(units(account.granted)).toBe(granted);
  expect(units(account.settled)).toBe(totalSettled);
  expect(units(account.balance)).toBe(granted - totalSettled - units(account.open));
  return settled;
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
