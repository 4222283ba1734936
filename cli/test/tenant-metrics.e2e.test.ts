// Per-tenant metrics, read from a real coordinator's /metrics over HTTP while
// tenants submit over real gRPC with their own keys and a sim worker renders:
// images by outcome, queued images, credits, refused submits; and the bound on
// tenant label values (--max-tenant-labels 2 with four tenants: the first two
// seen keep their label, the rest are summed as tenant="other").
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient, FarmClient, Role } from '@latentfarm/client';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, generateApiKey, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { JobState } from '@latentfarm/proto';
import { eventually, spawnSimWorker, tempDir, type SimWorker } from '@latentfarm/testkit';
import { collect, prompts, spec, workersConnected } from './farm.js';

let dir: { path: string; remove(): Promise<void> };
let coordinator: Coordinator;
let worker: SimWorker;
let admin: AdminClient;
let adminFarm: FarmClient;
const tenants = new Map<string, FarmClient>();

/** One sample of `/metrics`: the value of `name` with exactly `labels`, or undefined when there is no such series. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.keys(got).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Every value the `tenant` label takes in `/metrics`. */
const tenantLabels = (text: string): Set<string> => new Set([...text.matchAll(/^latentfarm_tenant_[a-z_]+\{[^}]*tenant="([^"]*)"/gm)].map((m) => m[1] as string));

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${coordinator.metricsPort}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Submits `images` sim images as `who` and waits for the job's end. */
async function render(who: FarmClient, images: number): Promise<string> {
  const { job } = await who.submitJob(spec(), prompts(images));
  const c = await collect(who, job!.id, { noProgress: true });
  expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
  return job!.id;
}

beforeAll(async () => {
  dir = await tempDir();
  const adminKey = generateApiKey();
  await writeFile(join(dir.path, 'admin.key'), adminKey);
  coordinator = await startCoordinator(defaultCoordinatorConfig({
    port: 0, metricsPort: 0, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200, adminKeyFile: join(dir.path, 'admin.key'),
    maxTenantLabels: 2, models: ['sim', 'unserved'],
  }), { log: createLogger('test', 'silent'), registry: new Registry() });
  admin = new AdminClient(coordinator.address, { apiKey: adminKey });
  adminFarm = new FarmClient(coordinator.address, { apiKey: adminKey });
  for (const t of ['a', 'b', 'c', 'd']) {
    await admin.createTenant(t);
    await admin.grantCredits(t, 100_000);
    tenants.set(t, new FarmClient(coordinator.address, { apiKey: (await admin.createKey({ role: Role.TENANT, tenantId: t })).secretKey }));
  }
  const workerKey = (await admin.createKey({ role: Role.WORKER, workerId: 'metrics-w1' })).secretKey;
  worker = spawnSimWorker(coordinator.address, { id: 'metrics-w1', extra: ['--api-key', workerKey] });
  await workersConnected(adminFarm, [worker.id], [worker]);
}, 120_000);

afterAll(async () => {
  worker.kill('SIGKILL');
  await worker.exited();
  for (const c of tenants.values()) c.close();
  admin.close();
  adminFarm.close();
  await coordinator.close();
  await dir.remove();
});

const t = (id: string): FarmClient => tenants.get(id) as FarmClient;

describe('per-tenant metrics', () => {
  it('count each tenant\'s images, credits and refused submits; admins\' jobs are tenant="admin"; past the cap, tenants are "other"', async () => {
    // First seen: a, then b, keep their labels (cap 2); c and d come later and are "other".
    const jobsA = [await render(t('a'), 3)];
    await render(t('b'), 2);
    await render(t('c'), 1);
    await render(t('d'), 2);
    await render(adminFarm, 1);
    // Refused submits: a bad size (INVALID_ARGUMENT) and a model nobody serves or accepts (NOT_FOUND).
    await expect(t('a').submitJob(spec({ params: { ...spec().params!, width: 7 } }), prompts(1))).rejects.toThrow(/width/);
    await expect(t('a').submitJob(spec({ model: 'nope' }), prompts(1))).rejects.toThrow(/nope/);
    await expect(t('c').submitJob(spec({ model: 'nope' }), prompts(1))).rejects.toThrow(/nope/);

    const text = await scrape();
    const images = (tenant: string, outcome: string) => sample(text, 'latentfarm_tenant_images_total', { tenant, outcome });
    expect(images('a', 'completed')).toBe(3);
    expect(images('b', 'completed')).toBe(2);
    expect(images('other', 'completed')).toBe(3);
    expect(images('admin', 'completed')).toBe(1);
    expect(sample(text, 'latentfarm_tenant_images_submitted_total', { tenant: 'a' })).toBe(3);
    expect(sample(text, 'latentfarm_tenant_images_submitted_total', { tenant: 'other' })).toBe(3);
    // Credits: what the cost model charged for the tenant's committed images (the job's estimate, all of it rendered).
    const estimated = (await t('a').getJob(jobsA[0] as string)).estimatedCredits;
    expect(estimated).toBeGreaterThan(0);
    expect(sample(text, 'latentfarm_tenant_credits_spent_total', { tenant: 'a' })).toBeCloseTo(estimated, 9);
    expect(sample(text, 'latentfarm_tenant_submits_refused_total', { tenant: 'a', reason: 'invalid_argument' })).toBe(1);
    expect(sample(text, 'latentfarm_tenant_submits_refused_total', { tenant: 'a', reason: 'not_found' })).toBe(1);
    expect(sample(text, 'latentfarm_tenant_submits_refused_total', { tenant: 'other', reason: 'not_found' })).toBe(1);
    // The bound: no series names c or d, whatever the metric.
    expect([...tenantLabels(text)].sort()).toEqual(['a', 'admin', 'b', 'other']);
  });

  it('show each tenant\'s queue, and its cancelled images when it cancels', async () => {
    // "unserved" is accepted (--models) but no worker serves it: the job waits, queued.
    const { job } = await t('b').submitJob(spec({ model: 'unserved' }), prompts(5));
    await eventually(async () => sample(await scrape(), 'latentfarm_tenant_queued_images', { tenant: 'b' }) === 5, 20_000, 'b\'s 5 images queued');
    expect(sample(await scrape(), 'latentfarm_tenant_queued_images', { tenant: 'a' })).toBe(0);
    await t('b').cancelJob(job!.id);
    await eventually(async () => sample(await scrape(), 'latentfarm_tenant_queued_images', { tenant: 'b' }) === 0, 20_000, 'b\'s queue empty');
    expect(sample(await scrape(), 'latentfarm_tenant_images_total', { tenant: 'b', outcome: 'cancelled' })).toBe(5);
  });

  it('refuse tenant ids that would read as a metrics label', async () => {
    for (const id of ['admin', 'other']) await expect(admin.createTenant(id)).rejects.toThrow(/reserved/);
  });
});
