// Who may do what, against a real `latentfarm serve` with keys (no --no-auth),
// over real gRPC on loopback, with a real sim worker holding its own key. The
// authorization matrix runs every RPC of RenderFarm, WorkerGateway and
// FarmAdmin under every kind of caller; a cell that changes fails the test.
// Then the key lifecycle (revoke, expiry), the worker-id hijack and the audit
// log. Tenants and keys are made with the CLI, as an operator would.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { AdminClient, FarmClient, Role } from '@latentfarm/client';
import { FarmAdminService, JobState, RenderFarmService, WorkerGatewayClient, WorkerGatewayService, type ConnectResponse } from '@latentfarm/proto';
import {
  eventually, loggedField, runCli, spawnCli, spawnCoordinator, spawnSimWorker, tempDir, type CoordinatorProc, type SimWorker,
} from '@latentfarm/testkit';
import { prompts, spec, workersConnected } from './farm.js';

const KEY = /lf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

type Caller = 'none' | 'wrong' | 'forged' | 'revoked' | 'tenantA' | 'tenantB' | 'admin' | 'worker';
const CALLERS: Caller[] = ['none', 'wrong', 'forged', 'revoked', 'tenantA', 'tenantB', 'admin', 'worker'];

let dir: { path: string; remove(): Promise<void> };
let coordinator: CoordinatorProc;
let realWorker: SimWorker;
const keys = {} as Record<Caller, string>;
/** Tenant A's finished job, with images. */
let jobA = '';
let throwaway = 0;

async function cli(args: string[], apiKey = keys.admin): Promise<string> {
  const r = await runCli([...args, '--coordinator', coordinator.address], { LATENTFARM_API_KEY: apiKey });
  expect(r.code, r.output).toBe(0);
  return r.output;
}

async function newKey(args: string[]): Promise<string> {
  const out = await cli(['key', 'create', ...args]);
  const m = KEY.exec(out);
  if (m === null) throw new Error(`no key in: ${out}`);
  return m[0];
}

const farm = (c: Caller) => new FarmClient(coordinator.address, { apiKey: keys[c], retries: 1, deadlineMs: 20_000 });
const admin = (c: Caller) => new AdminClient(coordinator.address, { apiKey: keys[c], deadlineMs: 20_000 });

/** 'OK' (or what a successful reply showed) or the status code's name. */
async function outcome(fn: () => Promise<string>): Promise<string> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as Partial<ServiceError>).code;
    if (typeof code !== 'number') throw err;
    return status[code] ?? String(code);
  }
}

/** One WorkerGateway Connect with `apiKey`, saying hello as `workerId`: 'OK' when welcomed, else the status. */
function connectAs(apiKey: string, workerId: string): Promise<string> {
  return new Promise((resolve) => {
    const client = new WorkerGatewayClient(coordinator.address, credentials.createInsecure());
    const md = new Metadata();
    if (apiKey !== '') md.set('authorization', `Bearer ${apiKey}`);
    const call = client.connect(md);
    const done = (r: string) => { call.cancel(); client.close(); resolve(r); };
    call.on('data', (m: ConnectResponse) => { if (m.message?.$case === 'welcome') done('OK'); });
    call.on('error', (err: ServiceError) => done(status[err.code] ?? String(err.code)));
    call.write({ message: { $case: 'hello', value: { workerId, models: ['sim'], maxBatch: 1, provider: 'sim', device: '', engine: 'sim', version: '0', modelDefaults: [] } } });
  });
}

const UNAUTH = { none: 'UNAUTHENTICATED', wrong: 'UNAUTHENTICATED', forged: 'UNAUTHENTICATED', revoked: 'UNAUTHENTICATED' } as const;
const CLIENT_OK = { ...UNAUTH, tenantA: 'OK', tenantB: 'OK', admin: 'OK', worker: 'PERMISSION_DENIED' } as const;
const A_ONLY = { ...UNAUTH, tenantA: 'OK', tenantB: 'NOT_FOUND', admin: 'OK', worker: 'PERMISSION_DENIED' } as const;
const ADMIN_ONLY = { ...UNAUTH, tenantA: 'PERMISSION_DENIED', tenantB: 'PERMISSION_DENIED', admin: 'OK', worker: 'PERMISSION_DENIED' } as const;

/** Every RPC, what it does as `c`, and the outcome expected for each caller. */
const MATRIX: { rpc: string; run: (c: Caller) => Promise<string>; expected: Record<Caller, string> }[] = [
  { rpc: 'RenderFarm/SubmitJob', expected: CLIENT_OK, run: (c) => withFarm(c, async (f) => { await f.submitJob(spec(), prompts(1)); return 'OK'; }) },
  { rpc: 'RenderFarm/SubmitJobStream', expected: CLIENT_OK, run: (c) => withFarm(c, async (f) => { await f.submitJobStream(spec(), prompts(2)); return 'OK'; }) },
  {
    rpc: 'RenderFarm/WatchJob', expected: A_ONLY,
    run: (c) => withFarm(c, async (f) => {
      let last: JobState | undefined;
      for await (const ev of f.watch(jobA, { resume: false, referencesOnly: true })) if (ev.type === 'state') last = ev.state;
      expect(last).toBe(JobState.SUCCEEDED);
      return 'OK';
    }),
  },
  { rpc: 'RenderFarm/GetJob', expected: A_ONLY, run: (c) => withFarm(c, async (f) => { expect((await f.getJob(jobA)).id).toBe(jobA); return 'OK'; }) },
  {
    // Everyone who may list gets OK; what they see differs: A and the admin see A's job, B does not.
    rpc: 'RenderFarm/ListJobs', expected: { ...CLIENT_OK, tenantA: 'sees A', tenantB: 'blind to A', admin: 'sees A' },
    run: (c) => withFarm(c, async (f) => ((await f.listJobs({ pageSize: 1000 })).jobs.some((j) => j.id === jobA) ? 'sees A' : 'blind to A')),
  },
  { rpc: 'RenderFarm/CancelJob', expected: A_ONLY, run: (c) => withFarm(c, async (f) => { expect((await f.cancelJob(jobA)).job?.state).toBe(JobState.SUCCEEDED); return 'OK'; }) },
  { rpc: 'RenderFarm/GetImage', expected: A_ONLY, run: (c) => withFarm(c, async (f) => { expect((await f.getImage(`${jobA}/0`)).data.length).toBeGreaterThan(0); return 'OK'; }) },
  { rpc: 'RenderFarm/EstimateCost', expected: CLIENT_OK, run: (c) => withFarm(c, async (f) => { await f.estimateCost({ spec: spec(), entries: prompts(1) }); return 'OK'; }) },
  {
    // Tenants see the queue, not the workers.
    rpc: 'RenderFarm/GetFarmStatus', expected: { ...CLIENT_OK, tenantA: 'no workers', tenantB: 'no workers', admin: 'workers' },
    run: (c) => withFarm(c, async (f) => ((await f.getFarmStatus()).workers.length > 0 ? 'workers' : 'no workers')),
  },
  {
    // A tenant reads its own account; another tenant's reads as not found; the admin names any tenant.
    rpc: 'RenderFarm/GetCredits', expected: { ...CLIENT_OK, tenantA: 'a', tenantB: 'NOT_FOUND', admin: 'a' },
    run: (c) => withFarm(c, async (f) => (await f.getCredits({ tenantId: 'a' })).account?.tenantId ?? 'none'),
  },
  {
    // The probe worker id is the worker key's own; the real worker has another id and key.
    rpc: 'WorkerGateway/Connect',
    expected: { ...UNAUTH, tenantA: 'PERMISSION_DENIED', tenantB: 'PERMISSION_DENIED', admin: 'PERMISSION_DENIED', worker: 'OK' },
    run: (c) => connectAs(keys[c], 'probe'),
  },
  { rpc: 'FarmAdmin/CreateTenant', expected: ADMIN_ONLY, run: (c) => withAdmin(c, async (a) => { await a.createTenant(`t${++throwaway}`); return 'OK'; }) },
  {
    rpc: 'FarmAdmin/UpdateTenant', expected: ADMIN_ONLY,
    run: (c) => withAdmin(c, async (a) => { expect(await a.updateTenant('b', { weight: 1 })).toMatchObject({ id: 'b', weight: 1 }); return 'OK'; }),
  },
  { rpc: 'FarmAdmin/ListTenants', expected: ADMIN_ONLY, run: (c) => withAdmin(c, async (a) => { expect((await a.listTenants()).map((t) => t.id)).toContain('a'); return 'OK'; }) },
  { rpc: 'FarmAdmin/CreateKey', expected: ADMIN_ONLY, run: (c) => withAdmin(c, async (a) => { expect((await a.createKey({ role: Role.TENANT, tenantId: 'b' })).secretKey).toMatch(KEY); return 'OK'; }) },
  { rpc: 'FarmAdmin/GrantCredits', expected: ADMIN_ONLY, run: (c) => withAdmin(c, async (a) => { expect((await a.grantCredits('b', 1)).account.tenantId).toBe('b'); return 'OK'; }) },
  { rpc: 'FarmAdmin/ListKeys', expected: ADMIN_ONLY, run: (c) => withAdmin(c, async (a) => { expect((await a.listKeys()).length).toBeGreaterThan(3); return 'OK'; }) },
  {
    rpc: 'FarmAdmin/RevokeKey', expected: ADMIN_ONLY,
    run: async (c) => {
      const victim = KEY.exec(await newKey(['--role', 'tenant', '--tenant', 'b']))?.[0].slice(3, 19) ?? '';
      return withAdmin(c, async (a) => { expect((await a.revokeKey(victim)).revokedUnixMs).toBeGreaterThan(0); return 'OK'; });
    },
  },
];

async function withFarm(c: Caller, fn: (f: FarmClient) => Promise<string>): Promise<string> {
  const f = farm(c);
  try {
    return await outcome(() => fn(f));
  } finally {
    f.close();
  }
}

async function withAdmin(c: Caller, fn: (a: AdminClient) => Promise<string>): Promise<string> {
  const a = admin(c);
  try {
    return await outcome(() => fn(a));
  } finally {
    a.close();
  }
}

beforeAll(async () => {
  dir = await tempDir();
  // The operator's first admin key, made offline and handed to serve in a file.
  const gen = await runCli(['key', 'generate']);
  keys.admin = KEY.exec(gen.output)?.[0] ?? '';
  expect(keys.admin, gen.output).toMatch(KEY);
  const keyFile = join(dir.path, 'admin.key');
  await writeFile(keyFile, `${keys.admin}\n`, { mode: 0o600 });
  coordinator = await spawnCoordinator(['--admin-key-file', keyFile, '--data-dir', join(dir.path, 'data'), '--models', 'sim', '--lease-ttl-ms', '3000', '--heartbeat-ms', '200']);
  await cli(['tenant', 'create', 'a', '--credits', '1000']);
  await cli(['tenant', 'create', 'b', '--credits', '1000']);
  keys.tenantA = await newKey(['--role', 'tenant', '--tenant', 'a', '--name', 'tenant A']);
  keys.tenantB = await newKey(['--role', 'tenant', '--tenant', 'b']);
  keys.worker = await newKey(['--role', 'worker', '--worker-id', 'probe']);
  keys.revoked = await newKey(['--role', 'tenant', '--tenant', 'a']);
  await cli(['key', 'revoke', keys.revoked.slice(3, 19)]);
  keys.none = '';
  // A well-formed key nobody made, and one with A's key id but a secret of its own.
  keys.wrong = KEY.exec((await runCli(['key', 'generate'])).output)?.[0] ?? '';
  keys.forged = `${keys.tenantA.slice(0, 20)}${'A'.repeat(43)}`;
  // The real worker, with its own key bound to its id.
  const realKey = await newKey(['--role', 'worker', '--worker-id', 'w-real']);
  realWorker = spawnSimWorker(coordinator.address, { id: 'w-real', extra: ['--api-key', realKey] });
  const adminClient = farm('admin');
  try {
    await workersConnected(adminClient, ['w-real'], [realWorker]);
  } finally {
    adminClient.close();
  }
  const a = farm('tenantA');
  try {
    jobA = (await a.submitJob(spec(), prompts(2)))?.job?.id ?? '';
    await eventually(async () => (await a.getJob(jobA)).state === JobState.SUCCEEDED, 60_000, 'job A to succeed');
  } finally {
    a.close();
  }
}, 180_000);

afterAll(async () => {
  realWorker?.kill('SIGKILL');
  coordinator?.kill('SIGKILL');
  await Promise.all([realWorker?.exited(), coordinator?.exited()]);
  await dir?.remove();
});

describe('authorization matrix: every RPC × every kind of caller', () => {
  it('has a row for every RPC the three services define (a new RPC without one fails here)', () => {
    const rpcs = [RenderFarmService, WorkerGatewayService, FarmAdminService].flatMap((svc) => Object.values(svc).map((m) => m.path.replace(/^\/latentfarm\.v1\./, '')));
    expect(MATRIX.map((r) => r.rpc).sort()).toEqual(rpcs.sort());
  });

  it('gives each cell its expected status', async () => {
    const got: Record<string, Record<Caller, string>> = {};
    const want: Record<string, Record<Caller, string>> = {};
    for (const row of MATRIX) {
      got[row.rpc] = {} as Record<Caller, string>;
      want[row.rpc] = row.expected;
      for (const c of CALLERS) (got[row.rpc] as Record<Caller, string>)[c] = await row.run(c);
    }
    // One comparison of the whole table, so a failure shows every cell that moved.
    expect(got).toEqual(want);
  }, 240_000);
});

describe('API keys', () => {
  it('a revoked key is refused from its next call on', async () => {
    const key = await newKey(['--role', 'tenant', '--tenant', 'a']);
    const f = new FarmClient(coordinator.address, { apiKey: key, retries: 1 });
    try {
      expect((await f.getJob(jobA)).id).toBe(jobA);
      await cli(['key', 'revoke', key.slice(3, 19)]);
      expect(await outcome(async () => (await f.getJob(jobA)).id)).toBe('UNAUTHENTICATED');
    } finally {
      f.close();
    }
  });

  it('an expired key is refused, saying it expired', async () => {
    const a = admin('admin');
    let key: string;
    try {
      key = (await a.createKey({ role: Role.TENANT, tenantId: 'a', expiresUnixMs: Date.now() + 1000 })).secretKey;
      // A key cannot be made already expired.
      expect(await outcome(async () => (await a.createKey({ role: Role.TENANT, tenantId: 'a', expiresUnixMs: Date.now() - 1 })).secretKey)).toBe('INVALID_ARGUMENT');
    } finally {
      a.close();
    }
    const f = new FarmClient(coordinator.address, { apiKey: key, retries: 1 });
    try {
      const err = await eventually(async () => {
        try {
          await f.listJobs();
          return undefined;
        } catch (e) {
          return e as ServiceError;
        }
      }, 30_000, 'the key to expire');
      expect(err.code).toBe(status.UNAUTHENTICATED);
      expect(err.details).toMatch(/^expired API key/);
    } finally {
      f.close();
    }
  });

  it('a key sent as something other than "Bearer <key>" is refused', async () => {
    const raw = new WorkerGatewayClient(coordinator.address, credentials.createInsecure());
    const f = new FarmClient(coordinator.address, { apiKey: '', retries: 1 });
    try {
      const md = new Metadata();
      md.set('authorization', keys.tenantA);
      const code = await new Promise<number>((resolve) => {
        f.raw.getJob({ jobId: jobA }, md, (err) => resolve(err?.code ?? status.OK));
      });
      expect(code).toBe(status.UNAUTHENTICATED);
    } finally {
      raw.close();
      f.close();
    }
  });
});

describe('the worker-id hijack', () => {
  it('no other credential can take a connected worker\'s id, and the real worker keeps its session and renders on', async () => {
    const adminFarm = farm('admin');
    try {
      const before = (await adminFarm.getFarmStatus()).workers.find((w) => w.id === 'w-real');
      expect(before).toBeDefined();
      // Another worker's valid key, a tenant key, the admin key, no key: all refused before any session is touched.
      expect(await connectAs(keys.worker, 'w-real')).toBe('PERMISSION_DENIED');
      expect(await connectAs(keys.tenantA, 'w-real')).toBe('PERMISSION_DENIED');
      expect(await connectAs(keys.admin, 'w-real')).toBe('PERMISSION_DENIED');
      expect(await connectAs('', 'w-real')).toBe('UNAUTHENTICATED');
      const after = (await adminFarm.getFarmStatus()).workers.find((w) => w.id === 'w-real');
      expect(after?.connectedUnixMs).toBe(before?.connectedUnixMs);
      // And it still renders.
      const id = (await adminFarm.submitJob(spec(), prompts(3))).job?.id ?? '';
      await eventually(async () => (await adminFarm.getJob(id)).state === JobState.SUCCEEDED, 60_000, 'a job after the attack');
      expect(realWorker.output()).not.toMatch(/"msg":"connected"[\s\S]*"msg":"connected"/);
    } finally {
      adminFarm.close();
    }
  });
});

describe('tenants are isolated', () => {
  it('the same idempotency key names different jobs for different tenants', async () => {
    const a = farm('tenantA');
    const b = farm('tenantB');
    try {
      const key = `same-${Date.now()}`;
      const ja = (await a.submitJob(spec({ idempotencyKey: key }), prompts(1))).job?.id;
      const jb = await b.submitJob(spec({ idempotencyKey: key }), prompts(1));
      expect(jb.created).toBe(true);
      expect(jb.job?.id).not.toBe(ja);
      const again = await a.submitJob(spec({ idempotencyKey: key }), prompts(1));
      expect(again.created).toBe(false);
      expect(again.job?.id).toBe(ja);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('audit log', () => {
  it('has a line for each admin action and each refused key, naming key ids and never a key', () => {
    const lines = coordinator.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const audit = lines.filter((l) => typeof l['audit'] === 'string');
    expect(audit.filter((l) => l['audit'] === 'tenant_create').map((l) => l['tenant'])).toEqual(expect.arrayContaining(['a', 'b']));
    expect(audit.some((l) => l['audit'] === 'key_revoke' && l['keyId'] === keys.revoked.slice(3, 19))).toBe(true);
    expect(audit.some((l) => l['audit'] === 'key_refused' && l['keyId'] === keys.revoked.slice(3, 19) && l['reason'] === 'revoked API key')).toBe(true);
    expect(audit.some((l) => l['audit'] === 'key_refused' && l['reason'] === 'no API key')).toBe(true);
    const out = coordinator.output();
    for (const c of CALLERS) if (keys[c] !== '') expect(out.includes(keys[c].slice(20)), c).toBe(false);
  });
});

describe('serve: keys by default', () => {
  it('makes and prints the first admin key of an empty farm once; after a restart the key still works and no other is made', async () => {
    const data = join(dir.path, 'bootstrap');
    const start = async () => {
      const p = spawnCli(['serve', '--port', '0', '--metrics-port', '-1', '--log-level', 'info', '--data-dir', data]);
      const port = await loggedField<number>(p, 'coordinator listening', 'port', 'number');
      return { p, address: `127.0.0.1:${port}` };
    };
    const first = await start();
    let key = '';
    try {
      key = await first.p.line((l) => KEY.exec(l)?.[0], 'the first admin key');
      const a = new AdminClient(first.address, { apiKey: key });
      try {
        await a.createTenant('kept');
      } finally {
        a.close();
      }
      const none = new FarmClient(first.address, { apiKey: '', retries: 1 });
      try {
        expect(await outcome(async () => { await none.listJobs(); return 'OK'; })).toBe('UNAUTHENTICATED');
      } finally {
        none.close();
      }
    } finally {
      first.p.kill('SIGKILL');
      await first.p.exited();
    }
    const second = await start();
    try {
      const a = new AdminClient(second.address, { apiKey: key });
      try {
        expect((await a.listTenants()).map((t) => t.id)).toEqual(['kept']);
      } finally {
        a.close();
      }
      expect(second.p.output()).not.toMatch(KEY);
    } finally {
      second.p.kill('SIGKILL');
      await second.p.exited();
    }
  }, 120_000);

  it('serve --no-auth warns at start', async () => {
    const p = spawnCli(['serve', '--no-auth', '--port', '0', '--metrics-port', '-1', '--log-level', 'info', '--data-dir', join(dir.path, 'noauth')]);
    try {
      await loggedField<number>(p, 'coordinator listening', 'port', 'number');
      const warning = await p.line((l) => (l.includes('WITHOUT authentication') ? l : undefined), 'the no-auth warning');
      expect(JSON.parse(warning)).toMatchObject({ level: 40, noAuth: true });
    } finally {
      p.kill('SIGKILL');
      await p.exited();
    }
  });
});
