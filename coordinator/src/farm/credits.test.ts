// Credits through the farm, on the embedded store: reserve at submit (refused
// with the shortfall, nothing made), settle and refund when a job succeeds,
// fails or is cancelled, concurrent submits never overspend, price
// multipliers, and the reconciler closing what a crash left open.
import { afterEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, createLogger } from '@latentfarm/common';
import { ImageFormat, JobState, Scheduler, type JobSpec } from '@latentfarm/proto';
import { toUnits } from '../jobs/cost.js';
import { expectBalanced } from '../ledger/ledger.contract.js';
import type { CoordinatorConfig } from '../config.js';
import { Credits } from './credits.js';
import { hello, link, result, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN, type Principal } from './principal.js';
import { tenantRecord } from '../store/identity.js';
import { Pricing } from './pricing.js';
import { Timers } from './timers.js';
import type { SubmitItem } from './jobs.js';

const ACME: Principal = { kind: 'tenant', tenantId: 'acme', keyId: 'k1' };

/** 512×512 at 50 steps: 1 credit an image (the reference image). */
const spec = (o: Partial<JobSpec> = {}): JobSpec => ({
  model: 'sim', priority: 0, labels: {}, idempotencyKey: '',
  params: { width: 512, height: 512, steps: 50, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG }, ...o,
});
const prompts = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `p${i}`, negativePrompt: '', images: 1 }));

let t: TestFarm | undefined;
afterEach(async () => { await t?.close(); t = undefined; });

async function farmWithTenant(credits: number, config: Partial<CoordinatorConfig> = {}): Promise<TestFarm> {
  t = await testFarm(undefined, config);
  await t.identity.createTenant(tenantRecord({ id: 'acme', createdUnixMs: Date.now() }));
  if (credits > 0) await t.farm.grantCredits(LOCAL_ADMIN, 'acme', credits);
  return t;
}

/** A worker that renders what it is leased: `fail` says which image indexes fail for good. */
async function renderAll(f: TestFarm, images: number, fail: (index: number) => boolean = () => false): Promise<void> {
  const w = link();
  const s = f.farm.attachWorker(LOCAL_ADMIN, hello('w', 8), w);
  f.farm.grantCredit(s, images);
  await f.farm.settled();
  for (const task of w.leased()) {
    const index = Number(task.taskId.split('/').at(-1));
    if (fail(index)) await f.farm.acceptFailure(s, { taskId: task.taskId, epoch: task.epoch, reason: 'cannot', retryable: false });
    else await f.farm.acceptResult(s, result(task));
  }
  await f.farm.settled();
}

describe('credits through the farm', () => {
  it('refuses a submit the balance does not cover, naming the shortfall, and makes nothing of it', async () => {
    const f = await farmWithTenant(2.5);
    const err = await f.farm.submit(ACME, spec({ idempotencyKey: 'k' }), prompts(4)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain('the job costs 4, tenant acme has 2.5, 1.5 short');
    expect((await f.farm.list(ACME, { pageSize: 0, pageToken: '', states: [], labels: {} })).jobs).toEqual([]);
    expect((await f.ledger.entries('acme', 0, 10)).map((e) => e.kind)).toEqual(['grant']);
    expect(await f.ledger.account('acme')).toMatchObject({ balance: toUnits(2.5), open: 0 });
    // Its idempotency key was not taken: once the tenant has credits, the same submit makes the job.
    await f.farm.grantCredits(LOCAL_ADMIN, 'acme', 10);
    expect((await f.farm.submit(ACME, spec({ idempotencyKey: 'k' }), prompts(4))).created).toBe(true);
  });

  it('refuses a streamed submit at the chunk whose prompts pass the balance, reads no further and keeps nothing', async () => {
    const f = await farmWithTenant(10);
    let chunksRead = 0;
    async function* endless(): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec() };
      for (;;) {
        chunksRead++;
        yield { $case: 'prompts', value: { entries: prompts(4) } };
      }
    }
    const err = await f.farm.submitStream(ACME, endless()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain('the job costs 12, tenant acme has 10, 2 short');
    // The third chunk took the price to 12: nothing after it was read, and none of it was kept.
    expect(chunksRead).toBe(3);
    expect(f.store.database.prepare('SELECT count(*) FROM tasks').pluck().get()).toBe(0);
    expect((await f.ledger.entries('acme', 0, 10)).map((e) => e.kind)).toEqual(['grant']);
  });

  it('answers a streamed resubmit of an accepted key with its job, though its prompts pass the balance now', async () => {
    const f = await farmWithTenant(5);
    async function* items(n: number): AsyncGenerator<SubmitItem> {
      yield { $case: 'spec', value: spec({ idempotencyKey: 'streamed' }) };
      for (let i = 0; i < n; i++) yield { $case: 'prompts', value: { entries: prompts(2) } };
      yield { $case: 'end', value: {} };
    }
    const first = await f.farm.submitStream(ACME, items(2));
    expect(first.created).toBe(true);
    const again = await f.farm.submitStream(ACME, items(2));
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
  });

  it('answers a resubmit of an idempotency key with its job, even when the balance would not cover a second one', async () => {
    const f = await farmWithTenant(5);
    const first = await f.farm.submit(ACME, spec({ idempotencyKey: 'again' }), prompts(4));
    const again = await f.farm.submit(ACME, spec({ idempotencyKey: 'again' }), prompts(4));
    expect(again).toMatchObject({ created: false, job: { id: first.job.id } });
    // Many at once: one job, one reservation still open.
    const many = await Promise.all(Array.from({ length: 10 }, () => f.farm.submit(ACME, spec({ idempotencyKey: 'again' }), prompts(4))));
    expect(new Set(many.map((m) => m.job.id))).toEqual(new Set([first.job.id]));
    expect(await f.ledger.account('acme')).toMatchObject({ open: toUnits(4), openJobs: 1, balance: toUnits(1) });
  });

  it('settles every image of a job that succeeds', async () => {
    const f = await farmWithTenant(10);
    const { job } = await f.farm.submit(ACME, spec(), prompts(4));
    expect(job.estimatedCredits).toBe(4);
    expect(await f.ledger.account('acme')).toMatchObject({ open: toUnits(4), balance: toUnits(6) });
    await renderAll(f, 4);
    expect((await f.farm.job(ACME, job.id)).state).toBe(JobState.SUCCEEDED);
    const a = await f.ledger.account('acme');
    expect(a).toMatchObject({ reserved: toUnits(4), settled: toUnits(4), refunded: 0, open: 0, balance: toUnits(6) });
    expectBalanced(a);
  });

  it('refunds the images that failed', async () => {
    const f = await farmWithTenant(10);
    const { job } = await f.farm.submit(ACME, spec(), prompts(4));
    await renderAll(f, 4, (i) => i % 2 === 1);
    expect((await f.farm.job(ACME, job.id)).state).toBe(JobState.PARTIAL);
    const a = await f.ledger.account('acme');
    expect(a).toMatchObject({ settled: toUnits(2), refunded: toUnits(2), open: 0, balance: toUnits(8) });
    expectBalanced(a);
    const [settle] = await f.ledger.entries('acme', 0, 1);
    expect(settle).toMatchObject({ kind: 'settle', jobId: job.id, reserved: toUnits(4), settled: toUnits(2), refunded: toUnits(2) });
  });

  it('refunds what a cancelled job never rendered', async () => {
    const f = await farmWithTenant(10);
    const { job } = await f.farm.submit(ACME, spec(), prompts(4));
    const w = link();
    const s = f.farm.attachWorker(LOCAL_ADMIN, hello('w', 1), w);
    f.farm.grantCredit(s, 1);
    await f.farm.settled();
    await f.farm.acceptResult(s, result(w.leased()[0]!));
    await f.farm.cancel(ACME, job.id);
    await f.farm.settled();
    const a = await f.ledger.account('acme');
    expect(a).toMatchObject({ settled: toUnits(1), refunded: toUnits(3), open: 0, balance: toUnits(9) });
    expectBalanced(a);
  });

  it('never overspends when one tenant submits many jobs at once', async () => {
    const f = await farmWithTenant(10);
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, () => f.farm.submit(ACME, spec(), prompts(1))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(10);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(refused.every((o) => o.reason instanceof FailedPreconditionError)).toBe(true);
    expect((await f.farm.list(ACME, { pageSize: 0, pageToken: '', states: [], labels: {} })).jobs).toHaveLength(10);
    const a = await f.ledger.account('acme');
    expect(a).toMatchObject({ open: toUnits(10), openJobs: 10, balance: 0 });
    expectBalanced(a);
  });

  it('prices a model by its multiplier, and settles at the multiplier reserved', async () => {
    const f = await farmWithTenant(10, { prices: ['sim=2.5'] });
    expect(f.farm.estimate(ACME, spec(), prompts(2))).toMatchObject({ credits: 5, creditsPerImageMax: 2.5 });
    const { job } = await f.farm.submit(ACME, spec(), prompts(2));
    expect(job.estimatedCredits).toBe(5);
    expect(await f.ledger.reservation('acme', job.id)).toMatchObject({ amount: toUnits(5), multiplier: 2.5 });
    await renderAll(f, 2, (i) => i === 0);
    expect(await f.ledger.account('acme')).toMatchObject({ settled: toUnits(2.5), refunded: toUnits(2.5), balance: toUnits(7.5) });
  });

  it('leaves admin jobs unmetered', async () => {
    const f = await farmWithTenant(0);
    const { job } = await f.farm.submit(LOCAL_ADMIN, spec(), prompts(3));
    await renderAll(f, 3);
    expect((await f.farm.job(LOCAL_ADMIN, job.id)).state).toBe(JobState.SUCCEEDED);
    expect(await f.ledger.openReservations()).toEqual([]);
  });

  it('shows a tenant its own credits with paged entries; another tenant\'s read as not found', async () => {
    const f = await farmWithTenant(10);
    await f.identity.createTenant(tenantRecord({ id: 'other', createdUnixMs: 1 }));
    await f.farm.submit(ACME, spec(), prompts(1));
    const first = await f.farm.credits(ACME, '', 1, '');
    expect(first.account).toMatchObject({ tenantId: 'acme', balance: toUnits(9) });
    expect(first.entries.map((e) => e.kind)).toEqual(['reserve']);
    const second = await f.farm.credits(ACME, 'acme', 1, first.nextPageToken);
    expect(second.entries.map((e) => e.kind)).toEqual(['grant']);
    expect(second.nextPageToken).toBe('');
    await expect(f.farm.credits(ACME, 'other', 10, '')).rejects.toThrow('does not exist');
    expect((await f.farm.credits(LOCAL_ADMIN, 'acme', 10, '')).entries).toHaveLength(2);
    await expect(f.farm.grantCredits(ACME, 'acme', 5)).rejects.toThrow('only an admin');
    await expect(f.farm.grantCredits(LOCAL_ADMIN, 'nobody', 5)).rejects.toThrow('does not exist');
    await expect(f.farm.grantCredits(LOCAL_ADMIN, 'acme', -1)).rejects.toThrow('above 0');
  });

  it('grants once per request id; the same id with other credits, or a malformed id, is INVALID_ARGUMENT', async () => {
    const f = await farmWithTenant(10);
    expect(await f.farm.grantCredits(LOCAL_ADMIN, 'acme', 5, 'grant-1')).toMatchObject({ granted: true, account: { balance: toUnits(15) } });
    expect(await f.farm.grantCredits(LOCAL_ADMIN, 'acme', 5, 'grant-1')).toMatchObject({ granted: false, account: { balance: toUnits(15) } });
    const other = f.farm.grantCredits(LOCAL_ADMIN, 'acme', 6, 'grant-1');
    await expect(other).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(other).rejects.toThrow('request_id: "grant-1" named a grant of 5 credits to tenant acme, not 6; a different grant needs a new request id');
    for (const bad of ['x'.repeat(65), 'has space', 'ü']) {
      await expect(f.farm.grantCredits(LOCAL_ADMIN, 'acme', 5, bad)).rejects.toThrow('is not 1-64 characters of A-Z a-z 0-9 . _ : -');
    }
    expect((await f.ledger.account('acme')).balance).toBe(toUnits(15));
  });
});

describe('the ledger reconciler', () => {
  it('settles an ended job whose settle a crash lost, and releases a reservation whose job was never made', async () => {
    const f = await farmWithTenant(10);
    const { ledger, store } = f;
    // A coordinator that died between reserve and createJob.
    await ledger.reserve({ tenantId: 'acme', jobId: 'never-made', amount: toUnits(3), multiplier: 1, unixMs: Date.now() - 60_000 });
    // One that died after a job ended but before its settle: the record says cancelled, the reservation is open.
    const { job } = await f.farm.submit(LOCAL_ADMIN, spec(), prompts(1));
    await ledger.reserve({ tenantId: 'acme', jobId: job.id, amount: toUnits(1), multiplier: 1, unixMs: Date.now() });
    await store.updateJob(job.id, (j) => ({ ...j, owner: 'acme', state: JobState.CANCELLED, finishedUnixMs: Date.now() }));
    // A reservation younger than the grace is a submit still under way: left alone.
    await ledger.reserve({ tenantId: 'acme', jobId: 'being-made', amount: toUnits(2), multiplier: 1, unixMs: Date.now() });
    const timers = new Timers();
    const credits = new Credits({
      store, ledger, pricing: new Pricing({ basePixels: 512 * 512, baseSteps: 50, minCredits: 0.01 }, { width: 512, height: 512, steps: 50, cfgScale: 7 }),
      timers, log: createLogger('t', 'silent'), tenantExists: () => Promise.resolve(true), reserveGraceMs: 30_000,
    });
    try {
      await credits.reconcile();
    } finally {
      timers.close();
    }
    const a = await ledger.account('acme');
    expect(a).toMatchObject({ reserved: toUnits(6), settled: 0, refunded: toUnits(4), open: toUnits(2), balance: toUnits(8) });
    expectBalanced(a);
    expect((await ledger.openReservations()).map((r) => r.jobId)).toEqual(['being-made']);
  });
});
