// The audit log of a real `latentfarm serve` with keys, over real gRPC and
// the console's HTTP: every admin action, whatever its outcome, and every
// refused key (none, malformed, unknown, wrong secret, revoked, expired, a role
// on the wrong service, a worker key naming another worker, at the console
// too) writes exactly one line with an `audit` field. Each case is followed by
// a marker call (a well-formed key nobody made, whose own line names its id),
// so the lines between two markers are exactly those that case caused.
// Every FarmAdmin method the proto has is called, so a new admin RPC without
// its audit line fails here.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { AdminClient, FarmClient, Role } from '@latentfarm/client';
import { generateApiKey } from '@latentfarm/coordinator';
import { FarmAdminService, WorkerGatewayClient, type ConnectResponse } from '@latentfarm/proto';
import { eventually, loggedField, spawnCoordinator, tempDir, type CoordinatorProc } from '@latentfarm/testkit';

type AuditLine = Record<string, unknown> & { audit: string };

let dir: { path: string; remove(): Promise<void> };
let coordinator: CoordinatorProc;
let consoleUrl = '';
const key = { admin: '', tenant: '', worker: '', revoked: '' };
const idOf = (k: string): string => k.slice(3, 19);
let lastMarker = '';

const farm = (apiKey: string) => new FarmClient(coordinator.address, { apiKey, retries: 1, deadlineMs: 20_000 });
const admin = (apiKey: string) => new AdminClient(coordinator.address, { apiKey, deadlineMs: 20_000 });

/** The call's status name ('OK' when it succeeded); `close` ends the client. */
async function outcome(run: () => Promise<unknown>, close: () => void = () => undefined): Promise<string> {
  try {
    await run();
    return 'OK';
  } catch (err) {
    const code = (err as Partial<ServiceError>).code;
    if (typeof code !== 'number') throw err;
    return status[code] ?? String(code);
  } finally {
    close();
  }
}

const asFarm = (apiKey: string, run: (f: FarmClient) => Promise<unknown>) => { const f = farm(apiKey); return outcome(() => run(f), () => f.close()); };
const asAdmin = (apiKey: string, run: (a: AdminClient) => Promise<unknown>) => { const a = admin(apiKey); return outcome(() => run(a), () => a.close()); };

/** A WorkerGateway Connect with `apiKey`, saying hello as `workerId`: 'OK' when welcomed, else the status name. */
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

/** A FarmAdmin method called by path with an empty request (every field at its default), as `apiKey`. */
function callEmpty(path: string, apiKey: string): Promise<string> {
  const client = new Client(coordinator.address, credentials.createInsecure());
  const md = new Metadata();
  md.set('authorization', `Bearer ${apiKey}`);
  const id = (b: Buffer): Buffer => b;
  return outcome(() => new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, id, id, Buffer.alloc(0), md, { deadline: Date.now() + 20_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  }), () => client.close());
}

const loginAtConsole = async (k: string): Promise<number> =>
  (await fetch(new URL('/api/login', consoleUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: k }) })).status;

function auditLines(): AuditLine[] {
  return coordinator.output().split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>).filter((l): l is AuditLine => typeof l['audit'] === 'string');
}

/** Calls with a key nobody made, then waits for its refusal's line: every line written before it has been read. */
async function marker(): Promise<void> {
  const id = randomBytes(8).toString('hex');
  expect(await asFarm(`lf_${id}_${'A'.repeat(43)}`, (f) => f.getFarmStatus())).toBe('UNAUTHENTICATED');
  await eventually(() => auditLines().some((l) => l['keyId'] === id), 20_000, `the marker line of ${id}`);
  lastMarker = id;
}

/** Runs `act` (expecting `expected`, when given) and returns the audit lines it caused, and only those. */
async function linesOf(expected: string | number | undefined, act: () => Promise<string | number>): Promise<AuditLine[]> {
  const before = lastMarker;
  const got = await act();
  if (expected !== undefined) expect(got).toBe(expected);
  await marker();
  const lines = auditLines();
  const start = lines.findIndex((l) => l['keyId'] === before);
  const end = lines.findIndex((l) => l['keyId'] === lastMarker);
  return lines.slice(start + 1, end);
}

beforeAll(async () => {
  dir = await tempDir();
  key.admin = generateApiKey();
  await writeFile(join(dir.path, 'admin.key'), key.admin);
  coordinator = await spawnCoordinator(['--admin-key-file', join(dir.path, 'admin.key'), '--data-dir', join(dir.path, 'data'), '--http-port', '0']);
  consoleUrl = await loggedField<string>(coordinator, 'coordinator listening', 'console', 'string');
  const a = admin(key.admin);
  try {
    await a.createTenant('acme');
    key.tenant = (await a.createKey({ role: Role.TENANT, tenantId: 'acme' })).secretKey;
    key.worker = (await a.createKey({ role: Role.WORKER, workerId: 'w1' })).secretKey;
    key.revoked = (await a.createKey({ role: Role.TENANT, tenantId: 'acme' })).secretKey;
    await a.revokeKey(idOf(key.revoked));
  } finally {
    a.close();
  }
  await marker();
}, 60_000);

afterAll(async () => {
  coordinator.kill('SIGKILL');
  await coordinator.exited();
  await dir.remove();
});

describe('audit log: exactly one line', () => {
  // Each test starts after a marker: whatever an earlier test left unread is not counted as its own.
  beforeEach(marker);

  it('for each refused key, on every kind of call, naming the key id and never the key', async () => {
    const wrongSecret = `lf_${idOf(key.tenant)}_${'B'.repeat(43)}`;
    const cases: { what: string; expected: string | number; act: () => Promise<string | number>; line: Record<string, unknown> }[] = [
      { what: 'no key', expected: 'UNAUTHENTICATED', act: () => asFarm('', (f) => f.getFarmStatus()), line: { audit: 'key_refused', reason: 'no API key' } },
      {
        what: 'no key on a server stream', expected: 'UNAUTHENTICATED', act: () => asFarm('', async (f) => { for await (const _ of f.watch('j1', { resume: false })) break; }),
        line: { audit: 'key_refused', reason: 'no API key', method: '/latentfarm.v1.RenderFarm/WatchJob' },
      },
      { what: 'malformed', expected: 'UNAUTHENTICATED', act: () => asFarm('not-a-key', (f) => f.getFarmStatus()), line: { audit: 'key_refused', reason: 'malformed API key' } },
      {
        what: 'wrong secret of a real key id', expected: 'UNAUTHENTICATED', act: () => asFarm(wrongSecret, (f) => f.getFarmStatus()),
        line: { audit: 'key_refused', reason: 'unknown API key', keyId: idOf(key.tenant) },
      },
      {
        what: 'revoked', expected: 'UNAUTHENTICATED', act: () => asFarm(key.revoked, (f) => f.listJobs({})),
        line: { audit: 'key_refused', reason: 'revoked API key', keyId: idOf(key.revoked), method: '/latentfarm.v1.RenderFarm/ListJobs' },
      },
      {
        what: 'a worker key on RenderFarm', expected: 'PERMISSION_DENIED', act: () => asFarm(key.worker, (f) => f.getFarmStatus()),
        line: { audit: 'key_refused', reason: 'role', role: 'worker', keyId: idOf(key.worker) },
      },
      {
        what: 'a tenant key on FarmAdmin', expected: 'PERMISSION_DENIED', act: () => asAdmin(key.tenant, (a) => a.listTenants()),
        line: { audit: 'key_refused', reason: 'role', role: 'tenant', method: '/latentfarm.v1.FarmAdmin/ListTenants' },
      },
      { what: 'a tenant key on WorkerGateway', expected: 'PERMISSION_DENIED', act: () => connectAs(key.tenant, 'w1'), line: { audit: 'key_refused', reason: 'role', role: 'tenant' } },
      { what: 'an admin key on WorkerGateway', expected: 'PERMISSION_DENIED', act: () => connectAs(key.admin, 'w1'), line: { audit: 'key_refused', reason: 'role', role: 'admin' } },
      { what: 'a revoked key on WorkerGateway', expected: 'UNAUTHENTICATED', act: () => connectAs(key.revoked, 'w1'), line: { audit: 'key_refused', reason: 'revoked API key' } },
      {
        what: 'a worker key saying hello as another worker', expected: 'PERMISSION_DENIED', act: () => connectAs(key.worker, 'w2'),
        line: { audit: 'worker_refused', keyId: idOf(key.worker), worker: 'w2' },
      },
      { what: 'a bad key at the console', expected: 401, act: () => loginAtConsole('lf_nope'), line: { audit: 'key_refused', reason: 'malformed API key' } },
      { what: 'a worker key at the console', expected: 403, act: () => loginAtConsole(key.worker), line: { audit: 'key_refused', reason: 'role', role: 'worker' } },
    ];
    for (const c of cases) {
      const lines = await linesOf(c.expected, c.act);
      expect(lines, c.what).toHaveLength(1);
      expect(lines[0], c.what).toMatchObject(c.line);
    }
    // An expired key: refused on its first call after its expiry, with one line.
    const a = admin(key.admin);
    const expiresUnixMs = Date.now() + 3000;
    const expiring = (await a.createKey({ role: Role.TENANT, tenantId: 'acme', expiresUnixMs })).secretKey;
    a.close();
    await marker();
    await eventually(() => Date.now() > expiresUnixMs + 50, 10_000, 'the key to expire');
    const lines = await linesOf('UNAUTHENTICATED', () => asFarm(expiring, (f) => f.getFarmStatus()));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ audit: 'key_refused', reason: 'expired API key', keyId: idOf(expiring) });

    const out = coordinator.output();
    for (const k of [key.admin, key.tenant, key.worker, key.revoked, expiring]) expect(out.includes(k.slice(20))).toBe(false);
  }, 120_000);

  it('for each admin action, whatever its outcome, with who did it', async () => {
    const by = idOf(key.admin);
    const a = admin(key.admin);
    const victim = idOf((await a.createKey({ role: Role.TENANT, tenantId: 'acme' })).secretKey);
    a.close();
    await marker();
    let made = '';
    const cases: { what: string; expected: string; act: () => Promise<string>; line: Record<string, unknown> }[] = [
      { what: 'tenant create', expected: 'OK', act: () => asAdmin(key.admin, (a) => a.createTenant('globex')), line: { audit: 'tenant_create', outcome: 'ok', tenant: 'globex' } },
      { what: 'tenant create, bad id', expected: 'INVALID_ARGUMENT', act: () => asAdmin(key.admin, (a) => a.createTenant('Not An Id')), line: { audit: 'tenant_create', outcome: 'invalid_argument' } },
      { what: 'tenant create, reserved id', expected: 'INVALID_ARGUMENT', act: () => asAdmin(key.admin, (a) => a.createTenant('other')), line: { audit: 'tenant_create', outcome: 'invalid_argument' } },
      { what: 'tenant create, exists', expected: 'ALREADY_EXISTS', act: () => asAdmin(key.admin, (a) => a.createTenant('acme')), line: { audit: 'tenant_create', outcome: 'already_exists', tenant: 'acme' } },
      { what: 'tenant list', expected: 'OK', act: () => asAdmin(key.admin, (a) => a.listTenants()), line: { audit: 'tenant_list', outcome: 'ok' } },
      {
        what: 'key create', expected: 'OK', act: () => asAdmin(key.admin, async (a) => { made = idOf((await a.createKey({ role: Role.TENANT, tenantId: 'globex' })).secretKey); }),
        line: { audit: 'key_create', outcome: 'ok', role: 'tenant', tenant: 'globex' },
      },
      { what: 'key create, no role', expected: 'INVALID_ARGUMENT', act: () => asAdmin(key.admin, (a) => a.createKey({ role: Role.UNSPECIFIED })), line: { audit: 'key_create', outcome: 'invalid_argument' } },
      {
        what: 'key create, unknown tenant', expected: 'NOT_FOUND', act: () => asAdmin(key.admin, (a) => a.createKey({ role: Role.TENANT, tenantId: 'initech' })),
        line: { audit: 'key_create', outcome: 'not_found', tenant: 'initech' },
      },
      { what: 'key list', expected: 'OK', act: () => asAdmin(key.admin, (a) => a.listKeys()), line: { audit: 'key_list', outcome: 'ok' } },
      { what: 'key revoke', expected: 'OK', act: () => asAdmin(key.admin, (a) => a.revokeKey(victim)), line: { audit: 'key_revoke', outcome: 'ok' } },
      { what: 'key revoke, unknown', expected: 'NOT_FOUND', act: () => asAdmin(key.admin, (a) => a.revokeKey('0123456789abcdef')), line: { audit: 'key_revoke', outcome: 'not_found', keyId: '0123456789abcdef' } },
    ];
    for (const c of cases) {
      const lines = await linesOf(c.expected, c.act);
      expect(lines, c.what).toHaveLength(1);
      expect(lines[0], c.what).toMatchObject({ ...c.line, by });
    }
    const created = auditLines().find((l) => l['audit'] === 'key_create' && l['tenant'] === 'globex' && l['outcome'] === 'ok');
    expect(created?.['keyId']).toBe(made);
  }, 120_000);

  it('for every FarmAdmin method the proto has: as an admin (one line of that action, by the admin), and as a tenant (one refusal)', async () => {
    const methods = Object.values(FarmAdminService).map((m) => m.path);
    expect(methods.length).toBeGreaterThanOrEqual(5);
    for (const path of methods) {
      // An empty request: most methods refuse it (no tenant id, no role, no key id), some list; either way, one line.
      const asAdminLines = await linesOf(undefined, () => callEmpty(path, key.admin));
      expect(asAdminLines, `${path} as an admin`).toHaveLength(1);
      expect(asAdminLines[0], `${path} as an admin`).toMatchObject({ by: idOf(key.admin), outcome: expect.any(String) as unknown });
      const asTenantLines = await linesOf('PERMISSION_DENIED', () => callEmpty(path, key.tenant));
      expect(asTenantLines, `${path} as a tenant`).toHaveLength(1);
      expect(asTenantLines[0], `${path} as a tenant`).toMatchObject({ audit: 'key_refused', reason: 'role', method: path });
    }
  }, 120_000);
});
