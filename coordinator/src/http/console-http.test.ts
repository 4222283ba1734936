// The console's HTTP API against a real coordinator with API keys on
// (embedded store, console on a free port) and a sim worker process holding
// its own key, over real gRPC: log-in with the same keys as gRPC, sessions,
// two tenants each seeing only their own work, status codes for bad input,
// the job download, and the page weight.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, Registry } from '@latentfarm/common';
import { CONSOLE_FILES, consoleAssetsDir, type CreditsView, type ImageView, type JobPage, type JobView, type SessionView } from '@latentfarm/console';
import { eventually, runCli, spawnSimWorker, tempDir, type SimWorker } from '@latentfarm/testkit';
import { defaultCoordinatorConfig } from '../config.js';
import { startCoordinator, type Coordinator } from '../coordinator.js';
import { SESSION_COOKIE } from './sessions.js';

let KEY = '';

describe('the console over HTTP, with log-in on', () => {
  let coordinator: Coordinator;
  let worker: SimWorker;
  let dir: { path: string; remove(): Promise<void> };
  let base: string;
  let cookie = '';

  const keys = { tenantA: '', tenantB: '', worker: '' };
  /** `latentfarm key create …` as the admin: the key it prints. */
  const cli = async (args: string[]): Promise<string> => {
    const r = await runCli([...args, '--coordinator', coordinator.address], { LATENTFARM_API_KEY: KEY });
    expect(r.code, r.output).toBe(0);
    return r.output;
  };
  const newKey = async (args: string[]) => /lf_[A-Za-z0-9_-]+/.exec(await cli(['key', 'create', ...args]))?.[0] ?? '';

  const req = (path: string, init: RequestInit & { session?: boolean } = {}) => {
    const headers = new Headers(init.headers);
    if (init.session !== false && cookie !== '') headers.set('cookie', cookie);
    return fetch(`${base}${path}`, { ...init, headers, redirect: 'manual' });
  };
  const postJson = (path: string, body: unknown, o: { session?: boolean } = {}) =>
    req(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...o });

  beforeAll(async () => {
    dir = await tempDir();
    // Keys on (the default): a new farm makes its first admin key at start.
    coordinator = await startCoordinator(
      defaultCoordinatorConfig({ port: 0, metricsPort: -1, httpPort: 0, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200 }),
      { log: createLogger('test', 'silent'), registry: new Registry() },
    );
    KEY = coordinator.firstAdminKey ?? '';
    base = `http://127.0.0.1:${coordinator.httpPort}`;
    await cli(['tenant', 'create', 'a', '--credits', '1000']);
    await cli(['tenant', 'create', 'b', '--credits', '1000']);
    keys.tenantA = await newKey(['--role', 'tenant', '--tenant', 'a']);
    keys.tenantB = await newKey(['--role', 'tenant', '--tenant', 'b']);
    keys.worker = await newKey(['--role', 'worker', '--worker-id', 'w-console']);
    worker = spawnSimWorker(coordinator.address, { id: 'w-console', maxBatch: 8, extra: ['--api-key', keys.worker] });
    // Jobs that name no model get the one its workers serve: wait until the worker has said hello.
    await eventually(async () => {
      const f = await (await fetch(`${base}/api/farm`, { headers: { authorization: `Bearer ${KEY}` } })).json() as { workers: { id: string }[] };
      return f.workers.some((w) => w.id === worker.id);
    }, 60_000, 'the sim worker to connect');
  }, 90_000);
  afterAll(async () => {
    worker?.kill('SIGKILL');
    await worker?.exited();
    await coordinator?.close();
    await dir?.remove();
  });

  it('reports the port it bound when asked for port 0', () => {
    expect(coordinator.httpPort).toBeGreaterThan(0);
    expect(coordinator.consoleUrl).toBe(`http://127.0.0.1:${coordinator.httpPort}/`);
  });

  it('serves the page to anyone, and the API only to a session: 401 before log-in', async () => {
    const page = await req('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<main id="main"');
    for (const [method, path] of [['GET', '/api/jobs'], ['GET', '/api/farm'], ['GET', '/api/jobs/jabc/events'], ['POST', '/api/jobs']] as const) {
      const res = method === 'GET' ? await req(path) : await postJson(path, { text: 'a' });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(await res.json()).toEqual({ error: 'not logged in: log in with an API key' });
    }
    expect(await (await req('/api/session')).json()).toEqual({ auth: true, loggedIn: false } satisfies SessionView);
  });

  it('refuses a wrong key with 401 and sets no cookie', async () => {
    const res = await postJson('/api/login', { key: 'wrong' });
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.json()).toEqual({ error: 'that API key is not valid' });
    expect((await postJson('/api/login', {})).status).toBe(400);
  });

  it('exchanges a key for an HttpOnly, SameSite=Strict session cookie', async () => {
    const res = await postJson('/api/login', { key: KEY });
    expect(res.status).toBe(200);
    const set = res.headers.get('set-cookie') ?? '';
    expect(set).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200$`));
    expect(set).not.toContain(KEY);
    cookie = set.split(';')[0] ?? '';
    expect(await (await req('/api/session')).json()).toEqual({ auth: true, loggedIn: true });
    expect((await req('/api/jobs')).status).toBe(200);
  });

  it('accepts the key itself as a bearer token, for scripts', async () => {
    expect((await req('/api/jobs', { session: false, headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200);
    expect((await req('/api/jobs', { session: false, headers: { authorization: 'Bearer nope' } })).status).toBe(401);
  });

  it('answers bad input with 400 and one line naming what is wrong', async () => {
    const cases: [Promise<Response>, RegExp][] = [
      [postJson('/api/jobs', { text: '' }), /^text: no prompts/],
      [postJson('/api/jobs', { text: '{"prompt":"ok"}\n{"prompt": oops}', filename: 'p.jsonl' }), /^p\.jsonl:2: not valid JSON/],
      [postJson('/api/jobs', { text: 'a', width: 63 }), /width/],
      [postJson('/api/jobs', { text: 'a', scheduler: 'heun' }), /unknown scheduler "heun"/],
      [postJson('/api/jobs', { text: 'a', colour: 'red' }), /^colour: unknown field/],
      [postJson('/api/estimate', { text: 'a', steps: 'many' }), /^steps: "many" is not an integer/],
      [req('/api/jobs', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'a' }), /application\/json/],
      [req('/api/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }), /not valid JSON/],
      [req('/api/jobs?state=DONE'), /is not a job state/],
      [req('/api/jobs?pageToken=999999'), /page_token/],
      [req('/api/jobs/NOT-AN-ID'), /is not a job id/],
      [req('/api/images/jabc/x'), /index: must be a number/],
    ];
    for (const [pending, message] of cases) {
      const res = await pending;
      const body = await res.json() as { error: string };
      expect(res.status, body.error).toBe(400);
      expect(body.error).toMatch(message);
      expect(body.error).not.toContain('\n');
    }
  });

  it('answers 404 for a job that does not exist, and 405 for a wrong method', async () => {
    for (const path of ['/api/jobs/jnosuchjob', '/api/jobs/jnosuchjob/events', '/api/jobs/jnosuchjob/download', '/api/images/jnosuchjob/0']) {
      expect((await req(path)).status, path).toBe(404);
    }
    expect((await postJson('/api/jobs/jnosuchjob/cancel', {})).status).toBe(404);
    expect((await req('/api/nothing')).status).toBe(404);
    const wrong = await req('/api/jobs/jnosuchjob/cancel');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('submits, streams the job\'s events as server-sent events, and downloads the job as a valid ZIP', async () => {
    const estimate = await postJson('/api/estimate', { text: 'a\nb\nc', images: 4, width: 64, height: 64, steps: 4 });
    expect(await estimate.json()).toMatchObject({ prompts: 3, images: 12 });
    const created = await postJson('/api/jobs', { text: 'a\nb\nc', images: 4, width: 64, height: 64, steps: 4, seed: 7, labels: { run: 'http' } });
    expect(created.status).toBe(201);
    const job = await created.json() as JobView;
    expect(job).toMatchObject({ state: 'QUEUED', images: { total: 12 }, labels: { run: 'http' }, params: { seed: 7, width: 64 } });

    // The event stream ends after the job's final state; every image arrives once, with its parameters.
    const events = await req(`/api/jobs/${job.id}/events`);
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const text = await events.text();
    const data = [...text.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1] as string) as { kind?: string; image?: ImageView; state?: string });
    const images = data.filter((d) => d.kind === 'image').map((d) => d.image as ImageView);
    expect(images.map((i) => i.index).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(images.find((i) => i.index === 5)).toMatchObject({ seed: 12, width: 64, height: 64, steps: 4, ok: true, prompt: 'b' });
    expect(data.filter((d) => d.kind === 'state').at(-1)?.state).toBe('SUCCEEDED');
    expect(text).toMatch(/event: end\n/);
    // A reconnect after the last event resumes there: nothing more to send.
    const last = (await (await req(`/api/jobs/${job.id}`)).json() as JobView).lastSequence;
    const resumed = await (await req(`/api/jobs/${job.id}/events`, { headers: { 'last-event-id': String(last) } })).text();
    expect(resumed).not.toMatch(/^data: \{"kind"/m);
    expect((await req(`/api/jobs/${job.id}/events?after=${last + 1}`)).status).toBe(400);

    const one = await req(`/api/images/${job.id}/5`);
    expect(one.status).toBe(200);
    expect(one.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await one.arrayBuffer());

    const zip = await req(`/api/jobs/${job.id}/download`);
    expect(zip.status).toBe(200);
    expect(zip.headers.get('content-disposition')).toBe(`attachment; filename="${job.id}.zip"`);
    const file = join(dir.path, 'job.zip');
    await writeFile(file, Buffer.from(await zip.arrayBuffer()));
    // Checked by an independent reader (Python's zipfile tests every CRC), not by our own writer's code.
    const check = 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print("\\n".join(z.namelist()))';
    const { stdout } = await promisify(execFile)('python3', ['-c', check, file]);
    const names = stdout.trim().split('\n');
    expect(names.at(-1)).toBe('images.jsonl');
    expect(names.filter((n) => n.endsWith('.png')).sort()).toEqual([...Array(12).keys()].map((i) => `${String(i).padStart(2, '0')}.png`));
    const { stdout: five } = await promisify(execFile)('python3', ['-c', 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("05.png"))', file], { encoding: 'buffer' });
    expect(Buffer.compare(five, png)).toBe(0);

    const page = await (await req('/api/jobs?label=run=http&state=SUCCEEDED')).json() as JobPage;
    expect(page.jobs.map((j) => j.id)).toEqual([job.id]);
    expect((await (await req('/api/jobs?label=run=other')).json() as JobPage).jobs).toEqual([]);
  });

  it('shows the farm with each worker\'s last heartbeat and the queue per model', async () => {
    const farm = await eventually(async () => {
      const f = await (await req('/api/farm')).json() as { workers: { id: string; lastSeenUnixMs: number; maxBatch: number }[]; models: { name: string; queued: number }[] };
      return f.workers.some((w) => w.id === worker.id) ? f : undefined;
    });
    const w = farm.workers.find((x) => x.id === worker.id);
    expect(w?.maxBatch).toBe(8);
    expect(w?.lastSeenUnixMs).toBeGreaterThan(0);
    expect(farm.models.find((m) => m.name === 'sim')).toMatchObject({ queued: 0 });
  });

  it('shows each tenant only its own jobs: another tenant\'s job is 404 everywhere; the admin sees both; a worker key cannot log in', async () => {
    const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` }, session: false });
    const submit = async (key: string, label: string) => {
      const res = await req('/api/jobs', { method: 'POST', body: JSON.stringify({ text: `${label} prompt`, width: 64, height: 64, steps: 2, labels: { who: label } }), ...as(key), headers: { ...as(key).headers, 'content-type': 'application/json' } });
      expect(res.status).toBe(201);
      return (await res.json() as JobView).id;
    };
    const a = await submit(keys.tenantA, 'a');
    const b = await submit(keys.tenantB, 'b');
    const listed = async (key: string) => ((await (await req('/api/jobs', as(key))).json()) as JobPage).jobs.map((j) => j.id);
    expect(await listed(keys.tenantA)).toEqual([a]);
    expect(await listed(keys.tenantB)).toEqual([b]);
    expect(await listed(KEY)).toEqual(expect.arrayContaining([a, b]));
    for (const path of [`/api/jobs/${a}`, `/api/jobs/${a}/events`, `/api/jobs/${a}/download`, `/api/images/${a}/0`, `/api/images/${a}/0/info`]) {
      const res = await req(path, as(keys.tenantB));
      expect(res.status, path).toBe(404);
    }
    expect((await req(`/api/jobs/${a}/cancel`, { method: 'POST', ...as(keys.tenantB) })).status).toBe(404);
    expect((await req(`/api/live?jobs=${a}:0`, as(keys.tenantB))).status).toBe(200);
    expect(await (await req(`/api/live?jobs=${a}:0`, as(keys.tenantB))).text()).not.toContain('"kind"');
    // The farm's workers are the admin's business; a tenant sees the queue but no workers.
    expect(((await (await req('/api/farm', as(keys.tenantA))).json()) as { workers: unknown[] }).workers).toEqual([]);
    const worker = await postJson('/api/login', { key: keys.worker }, { session: false });
    expect(worker.status).toBe(403);
    expect(worker.headers.get('set-cookie')).toBeNull();
  });

  it('shows a tenant its credits: the grant, the job\'s reservation and its settlement; another tenant\'s account is 404; an admin names the tenant', async () => {
    const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` }, session: false });
    const credits = async (key: string, query = '') => {
      const res = await req(`/api/credits${query}`, as(key));
      expect(res.status, query).toBe(200);
      return await res.json() as CreditsView;
    };
    const created = await req('/api/jobs', {
      method: 'POST', ...as(keys.tenantA), headers: { ...as(keys.tenantA).headers, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'credits prompt', images: 3, width: 64, height: 64, steps: 2 }),
    });
    expect(created.status).toBe(201);
    const job = await created.json() as JobView;
    expect(job.estimatedCredits).toBeGreaterThan(0);
    // The stream ends once the job has ended; its settlement follows in the background.
    expect(await (await req(`/api/jobs/${job.id}/events`, as(keys.tenantA))).text()).toMatch(/event: end\n/);
    const view = await eventually(async () => {
      const v = await credits(keys.tenantA);
      return v.entries.some((e) => e.kind === 'settle' && e.jobId === job.id) ? v : undefined;
    }, 30_000, 'the job\'s settlement');
    const done = await (await req(`/api/jobs/${job.id}`, as(keys.tenantA))).json() as JobView;
    expect(done.state).toBe('SUCCEEDED');
    expect(view.admin).toBe(false);
    const a = view.account;
    expect(a).toMatchObject({ tenantId: 'a', granted: 1000 });
    expect(a?.balance).toBeCloseTo((a?.granted ?? 0) - (a?.settled ?? 0) - (a?.open ?? 0), 6);
    const mine = view.entries.filter((e) => e.jobId === job.id);
    // Newest first: the settlement, then the reservation.
    expect(mine.map((e) => e.kind)).toEqual(['settle', 'reserve']);
    expect(mine[1]?.amount).toBeCloseTo(job.estimatedCredits, 6);
    expect(mine[0]).toMatchObject({ kind: 'settle', refunded: 0 });
    expect(mine[0]?.settled).toBeCloseTo(done.spentCredits, 6);
    expect(mine[0]?.settled).toBeCloseTo(job.estimatedCredits, 6);
    expect(view.entries.at(-1)).toMatchObject({ kind: 'grant', jobId: '', amount: 1000 });
    const seqs = view.entries.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => y - x));

    // Paging one entry at a time walks the same entries.
    const paged: number[] = [];
    for (let token = '', first = true; first || token !== ''; first = false) {
      const page = await credits(keys.tenantA, `?pageSize=1${token === '' ? '' : `&pageToken=${token}`}`);
      expect(page.entries.length).toBe(1);
      paged.push(...page.entries.map((e) => e.seq));
      token = page.nextPageToken;
    }
    expect(paged).toEqual(seqs);

    // Tenant B sees its own account and cannot read A's (it reads as one that does not exist).
    expect((await credits(keys.tenantB)).account?.tenantId).toBe('b');
    const probe = await req('/api/credits?tenant=a', as(keys.tenantB));
    expect(probe.status).toBe(404);
    expect(await probe.json()).toEqual({ error: 'tenant "a" does not exist' });
    // An admin's jobs are unmetered: no tenant named, no account; naming one shows it.
    expect(await credits(KEY)).toEqual({ account: null, admin: true, entries: [], nextPageToken: '' } satisfies CreditsView);
    const byAdmin = await credits(KEY, '?tenant=a');
    expect(byAdmin.admin).toBe(true);
    // (Tenant A's other job may settle between the two reads, so the totals are not compared.)
    expect(byAdmin.account).toMatchObject({ tenantId: 'a', granted: 1000 });
    expect(byAdmin.entries.filter((e) => e.jobId === job.id)).toEqual(mine);
    expect((await req('/api/credits?tenant=nosuch', as(KEY))).status).toBe(404);
    for (const query of ['?pageToken=abc', '?pageSize=0', '?pageSize=x']) {
      const res = await req(`/api/credits${query}`, as(keys.tenantA));
      expect(res.status, query).toBe(400);
    }
  });

  it('ends a console session when its key is revoked, on the next request', async () => {
    const key = await newKey(['--role', 'tenant', '--tenant', 'a']);
    const login = await postJson('/api/login', { key }, { session: false });
    expect(login.status).toBe(200);
    const own = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const asSession = () => fetch(`${base}/api/jobs`, { headers: { cookie: own } });
    expect((await asSession()).status).toBe(200);
    await cli(['key', 'revoke', /lf_([0-9a-f]{16})_/.exec(key)?.[1] ?? '']);
    expect((await asSession()).status).toBe(401);
  });

  it('logs out: the session ends at once', async () => {
    const res = await postJson('/api/logout', {});
    expect(res.headers.get('set-cookie')).toBe(`${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    expect((await req('/api/jobs')).status).toBe(401);
  });
});

describe('the console\'s page weight', () => {
  it('is under 300 KB before images (every file the page loads, as built by `npm run build`)', async () => {
    const sizes = await Promise.all(CONSOLE_FILES.map(async (f) => (await readFile(join(consoleAssetsDir(), f.file))).length));
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(300 * 1024);
    // The script is the bulk; it is bundled and minified, so a page of a few hundred bytes would mean a broken build.
    expect(total).toBeGreaterThan(5 * 1024);
  });
});
