// Tenants' quotas at submit, on a real farm and store: each over-quota submit
// is RESOURCE_EXHAUSTED with a retry delay (or none, when only asking for less
// helps), and one tenant at its quota never blocks another.
import { afterEach, describe, expect, it } from 'vitest';
import { ResourceExhaustedError } from '@latentfarm/common';
import { defaultCoordinatorConfig, tenantDefaults } from '../config.js';
import { TenantDirectory } from '../quota/tenant-directory.js';
import { tenantRecord, type TenantRecord } from '../store/identity.js';
import { fundTenants, prompts, spec, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN, type Principal } from './principal.js';
import { RUNNING_JOBS_RETRY_MS } from './quota-gate.js';

const tenant = (id: string): Principal => ({ kind: 'tenant', tenantId: id, keyId: `k-${id}` });

/** The refusal `fn` throws (failing if it succeeds or throws something else). */
async function refusal(fn: () => Promise<unknown>): Promise<ResourceExhaustedError> {
  const err = await fn().then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ResourceExhaustedError);
  return err as ResourceExhaustedError;
}

describe('tenant quotas at submit', () => {
  let t: TestFarm;
  afterEach(async () => t.close());

  async function farmWith(records: Partial<TenantRecord>[], config: Parameters<typeof defaultCoordinatorConfig>[0] = {}) {
    const byId = new Map(records.map((r) => [r.id, tenantRecord({ id: r.id ?? '', createdUnixMs: 0, ...r })]));
    const tenants = new TenantDirectory({
      lookup: (id) => Promise.resolve(byId.get(id)), defaults: tenantDefaults(defaultCoordinatorConfig(config)), ttlMs: 60_000,
    });
    t = await testFarm(undefined, config, tenants);
    await fundTenants(t, ['a', 'b']);
    return t.farm;
  }

  it('refuses a tenant past its queued images with a retry delay, while another tenant and an admin still submit', async () => {
    const farm = await farmWith([{ id: 'a', maxQueuedImages: 10 }], { tenantMaxQueuedImages: 1000 });
    await farm.submit(tenant('a'), spec(), prompts(6));
    const err = await refusal(() => farm.submit(tenant('a'), spec(), prompts(5)));
    expect(err.message).toMatch(/tenant "a" has 6 images queued, its quota is 10/);
    expect(err.retryAfterMs).toBeGreaterThan(0);
    // What still fits is taken; other tenants have their own quota (the default), an admin has none.
    await farm.submit(tenant('a'), spec(), prompts(4));
    expect((await farm.submit(tenant('b'), spec(), prompts(500))).created).toBe(true);
    expect((await farm.submit(LOCAL_ADMIN, spec(), prompts(2000))).created).toBe(true);
  });

  it('refuses a job larger than the whole quota without a retry delay: only a smaller job helps', async () => {
    const farm = await farmWith([], { tenantMaxQueuedImages: 10 });
    const err = await refusal(() => farm.submit(tenant('a'), spec(), prompts(11)));
    expect(err.message).toMatch(/split it/);
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('refuses a tenant at its unfinished-job quota until one of its jobs ends', async () => {
    const farm = await farmWith([{ id: 'a', maxRunningJobs: 2 }]);
    const first = await farm.submit(tenant('a'), spec(), prompts(1));
    await farm.submit(tenant('a'), spec(), prompts(1));
    const err = await refusal(() => farm.submit(tenant('a'), spec(), prompts(1)));
    expect(err.retryAfterMs).toBe(RUNNING_JOBS_RETRY_MS);
    await farm.submit(tenant('b'), spec(), prompts(1));
    await farm.cancel(tenant('a'), first.job.id);
    expect((await farm.submit(tenant('a'), spec(), prompts(1))).created).toBe(true);
  });

  it('refuses submits past the rate with the time until the next one is allowed', async () => {
    const farm = await farmWith([], { tenantSubmitsPerMinute: 2 });
    await farm.submit(tenant('a'), spec(), prompts(1));
    await farm.submit(tenant('a'), spec(), prompts(1));
    const err = await refusal(() => farm.submit(tenant('a'), spec(), prompts(1)));
    expect(err.message).toMatch(/submit rate of 2 a minute/);
    // One submit every 30 s: the next token is at most that far off.
    expect(err.retryAfterMs).toBeGreaterThan(20_000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(30_000);
    await farm.submit(tenant('b'), spec(), prompts(1));
  });

  it('keeps an idempotency key free when the submit is refused, and gives an accepted job back at the quota', async () => {
    const farm = await farmWith([], { tenantMaxRunningJobs: 1 });
    const accepted = await farm.submit(tenant('a'), { ...spec(), idempotencyKey: 'first' }, prompts(1));
    await refusal(() => farm.submit(tenant('a'), { ...spec(), idempotencyKey: 'second' }, prompts(1)));
    // The retry of an accepted submit is answered with its job, quota or not.
    const again = await farm.submit(tenant('a'), { ...spec(), idempotencyKey: 'first' }, prompts(1));
    expect(again).toMatchObject({ created: false, job: { id: accepted.job.id } });
    await farm.cancel(tenant('a'), accepted.job.id);
    // The refused submit's retry makes its job (before, the refused submit had claimed the key for a job never made).
    expect((await farm.submit(tenant('a'), { ...spec(), idempotencyKey: 'second' }, prompts(1))).created).toBe(true);
  });

  it('says when to retry at a full farm queue, too', async () => {
    const farm = await farmWith([], { maxQueuedImages: 10 });
    await farm.submit(LOCAL_ADMIN, spec(), prompts(8));
    const err = await refusal(() => farm.submit(tenant('a'), spec(), prompts(5)));
    expect(err.message).toMatch(/farm queue is full/);
    expect(err.retryAfterMs).toBeGreaterThan(0);
  });
});
