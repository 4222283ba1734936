// The dispatcher leases in the order of the policy it is given, in lease
// messages of bounded size, and keeps a worker on one batch group while it can.
import { afterEach, describe, expect, it } from 'vitest';
import type { ShareCandidate, SharePolicy } from '../scheduling/share-policy.js';
import { TenantShare } from '../scheduling/tenant-share.js';
import { MAX_LEASE_BATCH } from './dispatcher.js';
import { fundTenants, hello, link, prompts, spec, testFarm, type TestFarm } from './farm.fixture.js';
import { LOCAL_ADMIN as P, type Principal } from './principal.js';

/** Newest job first, never dry: the opposite of what the farm's policy does with two equal jobs. */
class NewestFirst implements SharePolicy {
  readonly jobs: (ShareCandidate & { weight: number })[] = [];
  readonly charges: [string, number][] = [];
  has(id: string) { return this.jobs.some((j) => j.id === id); }
  add(id: string, model: string, group: string, weight: number) { if (!this.has(id)) this.jobs.push({ id, model, group, weight }); }
  remove(id: string) { const i = this.jobs.findIndex((j) => j.id === id); if (i >= 0) this.jobs.splice(i, 1); }
  wake() {}
  markDry() {}
  pick(accept: (j: ShareCandidate) => boolean) { return [...this.jobs].reverse().find(accept); }
  charge(id: string, images: number) { this.charges.push([id, images]); }
}

describe('Dispatcher', () => {
  let t: TestFarm;
  afterEach(async () => t.close());

  it('leases from the job the given policy picks, and charges it what was leased', async () => {
    const policy = new NewestFirst();
    t = await testFarm(policy);
    const { farm } = t;
    const older = await farm.submit(P, spec(), prompts(5));
    const newer = await farm.submit(P, spec(), prompts(5));
    expect(policy.jobs.map((j) => [j.id, j.weight])).toEqual([[older.job.id, 5], [newer.job.id, 5]]);
    const a = link();
    farm.grantCredit(farm.attachWorker(P, hello('a'), a), 3);
    await farm.settled();
    expect(a.leased().map((task) => task.jobId)).toEqual([newer.job.id, newer.job.id, newer.job.id]);
    expect(policy.charges).toEqual([[newer.job.id, 3]]);
  });

  it('sends at most MAX_LEASE_BATCH tasks per lease message', async () => {
    t = await testFarm(new TenantShare());
    const { farm } = t;
    await farm.submit(P, spec(), prompts(100));
    const a = link();
    farm.grantCredit(farm.attachWorker(P, hello('a', 50), a), 100);
    await farm.settled();
    expect(a.leases().map((l) => l.length)).toEqual([MAX_LEASE_BATCH, 100 - MAX_LEASE_BATCH]);
  });

  it('keeps a worker on the batch group it was just given before fair share moves it to another', async () => {
    t = await testFarm(new TenantShare());
    const { farm } = t;
    const small1 = await farm.submit(P, spec(64), prompts(2));
    const large = await farm.submit(P, spec(128), prompts(2));
    const small2 = await farm.submit(P, spec(64), prompts(2));
    const a = link();
    farm.grantCredit(farm.attachWorker(P, hello('a'), a), 6);
    await farm.settled();
    // Fair share alone would go small1, large, small2 (equal passes, in order of arrival).
    expect(a.leases().map((l) => l[0]?.jobId)).toEqual([small1.job.id, small2.job.id, large.job.id]);
  });

  it('with the farm\'s policy, shares workers by tenant: ten priority-10 jobs of one tenant get no more than one priority-1 job of another', async () => {
    t = await testFarm(new TenantShare());
    await fundTenants(t, ['a', 'b']);
    const { farm } = t;
    const a: Principal = { kind: 'tenant', tenantId: 'a', keyId: 'ka' };
    const b: Principal = { kind: 'tenant', tenantId: 'b', keyId: 'kb' };
    for (let i = 0; i < 10; i++) await farm.submit(a, { ...spec(), priority: 10 }, prompts(20));
    const bJob = (await farm.submit(b, { ...spec(), priority: 1 }, prompts(20))).job.id;
    const w = link();
    const session = farm.attachWorker(P, hello('w', 64), w);
    // One slot at a time, as a busy farm frees them.
    for (let i = 0; i < 40; i++) {
      farm.grantCredit(session, 1);
      await farm.settled();
    }
    const leased = w.leased().map((task) => task.jobId);
    expect(leased.length).toBe(40);
    expect(leased.filter((id) => id === bJob).length).toBe(20);
  });

  it('forgets a finished job in the policy', async () => {
    const policy = new NewestFirst();
    t = await testFarm(policy);
    const { farm } = t;
    const { job } = await farm.submit(P, spec(), prompts(1));
    await farm.cancel(P, job.id);
    expect(policy.jobs).toEqual([]);
  });
});
