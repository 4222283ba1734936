// The queue-filling attack from issue 13, done to a real `latentfarm serve`
// with keys, over real gRPC, with real sim workers: tenant A fills its queue
// until its quota refuses it (RESOURCE_EXHAUSTED with a google.rpc.RetryInfo),
// and tenant B's job, submitted behind A's whole backlog, is accepted and
// finishes with its share of the workers while A's images still wait. No
// timing bounds: the workers connect only once both have submitted, and the
// share is read from job counts when B's job ends.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { FarmClient, retryDelayMs } from '@latentfarm/client';
import { JobState, Tenant } from '@latentfarm/proto';
import { runCli, spawnCoordinator, spawnSimWorker, tempDir, type CoordinatorProc, type SimWorker } from '@latentfarm/testkit';
import { collect, prompts, spec, workersConnected } from './farm.js';

const KEY = /lf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;
/** Tenant A's quota, in images; its jobs are of JOB_A images, at the highest priority. */
const QUOTA_A = 400;
const JOB_A = 50;
/** Tenant B's one job, at the lowest priority. */
const JOB_B = 16;

let dir: { path: string; remove(): Promise<void> };
let coordinator: CoordinatorProc;
const workers: SimWorker[] = [];
const keys = { admin: '', a: '', b: '', c: '' };
const jobsA: string[] = [];

async function cli(args: string[], apiKey = keys.admin): Promise<{ code: number | null; output: string }> {
  return runCli([...args, '--coordinator', coordinator.address], { LATENTFARM_API_KEY: apiKey });
}

async function ok(args: string[], apiKey = keys.admin): Promise<string> {
  const r = await cli(args, apiKey);
  expect(r.code, r.output).toBe(0);
  return r.output;
}

async function newKey(args: string[]): Promise<string> {
  const m = KEY.exec(await ok(['key', 'create', ...args]));
  if (m === null) throw new Error('no key printed');
  return m[0];
}

const client = (key: string) => new FarmClient(coordinator.address, { apiKey: key, retries: 1, deadlineMs: 30_000 });

async function refused(fn: () => Promise<unknown>): Promise<ServiceError> {
  const err = await fn().then(() => undefined, (e: unknown) => e as ServiceError);
  expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
  return err as ServiceError;
}

beforeAll(async () => {
  dir = await tempDir();
  keys.admin = KEY.exec((await runCli(['key', 'generate'])).output)?.[0] ?? '';
  const keyFile = join(dir.path, 'admin.key');
  await writeFile(keyFile, `${keys.admin}\n`, { mode: 0o600 });
  // The farm's queue is far larger than A's quota: what stops A is its own quota, not the farm's.
  coordinator = await spawnCoordinator(['--admin-key-file', keyFile, '--data-dir', join(dir.path, 'data'), '--models', 'sim',
    '--max-queued-images', '100000', '--lease-ttl-ms', '5000', '--heartbeat-ms', '200']);
  await ok(['tenant', 'create', 'a', '--max-queued-images', String(QUOTA_A), '--credits', '100000']);
  await ok(['tenant', 'create', 'b', '--credits', '100000']);
  await ok(['tenant', 'create', 'c', '--credits', '100000']);
  keys.a = await newKey(['--role', 'tenant', '--tenant', 'a']);
  keys.b = await newKey(['--role', 'tenant', '--tenant', 'b']);
  keys.c = await newKey(['--role', 'tenant', '--tenant', 'c']);
}, 120_000);

afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  coordinator?.kill('SIGKILL');
  await Promise.all([...workers.map((w) => w.exited()), coordinator?.exited()]);
  await dir?.remove();
});

describe('tenant A fills its queue while tenant B submits and finishes within its share', () => {
  it('A is refused at its quota with RESOURCE_EXHAUSTED and a RetryInfo delay, by the SDK and the CLI', async () => {
    const a = client(keys.a);
    try {
      // Many jobs at priority 10: what a tenant would try to get ahead of others.
      for (let i = 0; i < QUOTA_A / JOB_A; i++) jobsA.push((await a.submitJob(spec({ priority: 10 }), prompts(JOB_A))).job?.id ?? '');
      const err = await refused(() => a.submitJob(spec({ priority: 10 }), prompts(JOB_A)));
      expect(err.details).toMatch(`tenant "a" has ${QUOTA_A} images queued, its quota is ${QUOTA_A}`);
      expect(retryDelayMs(err)).toBeGreaterThan(0);
      // Even one more image is refused.
      await refused(() => a.submitJob(spec(), prompts(1)));
    } finally {
      a.close();
    }
    const file = join(dir.path, 'more.txt');
    await writeFile(file, 'one more\n');
    const r = await cli(['submit', file, '--model', 'sim', '--width', '64', '--height', '64', '--steps', '4'], keys.a);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toMatch(/RESOURCE_EXHAUSTED: tenant "a" has 400 images queued, its quota is 400: .*; retry in \d+ s/);
  });

  it('B\'s job, submitted behind A\'s whole backlog at priority 1, is accepted and finishes while A\'s images still wait', async () => {
    const b = client(keys.b);
    const admin = client(keys.admin);
    try {
      const jobB = (await b.submitJob(spec({ priority: 1 }), prompts(JOB_B))).job?.id ?? '';
      // Only now do workers come: A's backlog and B's job wait side by side.
      for (const id of ['w1', 'w2']) {
        const key = await newKey(['--role', 'worker', '--worker-id', id]);
        workers.push(spawnSimWorker(coordinator.address, { id, maxBatch: 4, extra: ['--api-key', key] }));
      }
      await workersConnected(admin, ['w1', 'w2'], workers);
      const seen = await collect(b, jobB);
      expect(seen.states.at(-1)).toBe(JobState.SUCCEEDED);
      expect(seen.images.size).toBe(JOB_B);
      // When B's last image was committed, how far had A got? Read from A's event logs (commit times on the
      // coordinator's clock), not from a count taken later, while A's jobs render on. Tenants share the workers
      // equally, so about as far as B, plus what the workers held ahead (2 workers × 2 batches of 4). Sharing by
      // job priority instead (ten times B's weight on each of A's 8 jobs) would have given B 1/81 of the workers,
      // and A's whole backlog would have been rendered first.
      const bEnd = Math.max(...[...seen.images.values()].map((ev) => ev.unixMs));
      let doneA = 0;
      for (const id of jobsA) {
        const last = (await admin.getJob(id)).lastSequence;
        if (last === 0) continue;
        for await (const ev of admin.watch(id, { referencesOnly: true, noProgress: true })) {
          if (ev.type === 'image' && ev.unixMs <= bEnd) doneA++;
          if (ev.type !== 'progress' && ev.sequence >= last) break;
        }
      }
      expect(doneA).toBeLessThan(4 * JOB_B + 16);
      expect(doneA).toBeLessThan(QUOTA_A);
    } finally {
      b.close();
      admin.close();
    }
  }, 120_000);

  it('a tenant updated to one submit a minute is refused the second, and the CLI says when to retry', async () => {
    await ok(['tenant', 'update', 'c', '--submits-per-minute', '1', '--weight', '2']);
    const listed = (await ok(['tenant', 'list', '--json'])).trim().split('\n').map((l) => Tenant.fromJSON(JSON.parse(l)));
    expect(listed.find((t) => t.id === 'c')).toMatchObject({ submitsPerMinute: 1, weight: 2, maxQueuedImages: 0 });
    expect(listed.find((t) => t.id === 'a')).toMatchObject({ maxQueuedImages: QUOTA_A });
    const file = join(dir.path, 'c.txt');
    await writeFile(file, 'a prompt\n');
    const args = ['submit', file, '--model', 'sim', '--width', '64', '--height', '64', '--steps', '4'];
    expect((await cli(args, keys.c)).code).toBe(0);
    const second = await cli(args, keys.c);
    expect(second.code, second.output).toBe(1);
    const m = /RESOURCE_EXHAUSTED: tenant "c" is over its submit rate of 1 a minute; retry in (\d+) s/.exec(second.output);
    expect(m, second.output).not.toBeNull();
    expect(Number(m?.[1])).toBeGreaterThan(0);
    expect(Number(m?.[1])).toBeLessThanOrEqual(60);
  });
});
