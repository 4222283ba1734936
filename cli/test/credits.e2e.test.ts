// Credits as an operator and a tenant use them, against a real `latentfarm
// serve` with keys and a sim worker: `tenant create --credits`, `credits
// grant|show` (text and --json), a submit the balance does not cover (one
// line, the shortfall, no job), a job that renders and settles, a per-model
// price multiplier (--prices), bad input (exit 2), and a grant made once per
// request id, retried while the coordinator is unreachable.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, openPortGate, runCli, spawnCoordinator, spawnSimWorker, tempDir, type CoordinatorProc, type SimWorker } from '@latentfarm/testkit';

const KEY = /lf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

let dir: { path: string; remove(): Promise<void> };
let coordinator: CoordinatorProc;
let worker: SimWorker;
let admin = '';
let tenant = '';

async function cli(args: string[], apiKey: string, code = 0): Promise<string> {
  const r = await runCli([...args, '--coordinator', coordinator.address], { LATENTFARM_API_KEY: apiKey });
  expect(r.code, r.output).toBe(code);
  return r.output;
}

/** 512×512 at 50 steps is one credit an image; the farm's --prices sim=2 doubles it. */
const JOB = ['--model', 'sim', '--width', '512', '--height', '512', '--steps', '50'];

beforeAll(async () => {
  dir = await tempDir();
  admin = KEY.exec((await runCli(['key', 'generate'])).output)?.[0] ?? '';
  const keyFile = join(dir.path, 'admin.key');
  await writeFile(keyFile, `${admin}\n`, { mode: 0o600 });
  coordinator = await spawnCoordinator(['--admin-key-file', keyFile, '--data-dir', join(dir.path, 'data'), '--models', 'sim', '--prices', 'sim=2', '--heartbeat-ms', '200']);
  const workerKey = KEY.exec(await cli(['key', 'create', '--role', 'worker', '--worker-id', 'w-credits'], admin))?.[0] ?? '';
  worker = spawnSimWorker(coordinator.address, { id: 'w-credits', extra: ['--api-key', workerKey] });
}, 120_000);

afterAll(async () => {
  worker?.kill('SIGKILL');
  coordinator?.kill('SIGKILL');
  await Promise.all([worker?.exited(), coordinator?.exited()]);
  await dir?.remove();
});

describe('credits commands', () => {
  it('grants at tenant create, refuses a job the balance does not cover, renders and settles one it covers', async () => {
    expect(await cli(['tenant', 'create', 'acme', '--credits', '3'], admin)).toContain('tenant created with 3 credits: acme ');
    tenant = KEY.exec(await cli(['key', 'create', '--role', 'tenant', '--tenant', 'acme'], admin))?.[0] ?? '';

    // 2 images × 1 credit × 2 (the model's multiplier) = 4 > 3: one line, the shortfall, exit 1, no job.
    const refused = await cli(['submit', '--prompt', 'a fox', '--images', '2', ...JOB], tenant, 1);
    expect(refused.trim().split('\n')).toHaveLength(1);
    expect(refused).toContain('FAILED_PRECONDITION: not enough credits: the job costs 4, tenant acme has 3, 1 short');
    expect(await cli(['list'], tenant)).not.toMatch(/j[0-9a-z]{8,}/);

    const granted = JSON.parse(await cli(['credits', 'grant', 'acme', '2', '--json'], admin)) as Record<string, unknown>;
    expect(granted).toMatchObject({ tenantId: 'acme', balance: 5, granted: 5 });

    const submitted = await cli(['submit', '--prompt', 'a fox', '--images', '2', '--watch', '--out', join(dir.path, 'out'), ...JOB], tenant);
    expect(submitted).toContain('SUCCEEDED');

    // The settle lands a moment after the job's end event (the watch ends on that): read until no job holds credits.
    // (proto3 JSON leaves zero fields out: openJobs absent is 0.)
    const account = await eventually(async () => {
      const a = (JSON.parse(await cli(['credits', 'show', '--json'], tenant)) as { account: Record<string, unknown> }).account;
      return a['openJobs'] === undefined ? a : undefined;
    }, 30_000, 'the job to be settled');
    expect(account).toMatchObject({ tenantId: 'acme', balance: 1, granted: 5, reserved: 4, settled: 4 });
    const text = await cli(['credits', 'show'], tenant);
    expect(text.split('\n')[0]).toBe('tenant acme: balance 1 (granted 5, settled 4, open 0 in 0 jobs, refunded 0 of 4 reserved)');
    expect(text).toMatch(/settle +\+0 refunded, 4 of 4 charged {2}job j/);
    expect(text).toMatch(/grant +\+3/);
    // The admin reads any tenant's; paging by --limit.
    const page = JSON.parse(await cli(['credits', 'show', 'acme', '--limit', '1', '--json'], admin)) as { entries: { kind: string }[]; nextPageToken: string };
    expect(page.entries.map((e) => e.kind)).toEqual(['CREDITS_ENTRY_KIND_SETTLE']);
    expect(page.nextPageToken).not.toBe('');
  }, 120_000);

  it('bad input is one line and exit 2; a tenant key cannot grant', async () => {
    for (const args of [
      ['credits', 'grant', 'acme', 'lots'], ['credits', 'grant', 'acme', '-5'], ['credits', 'grant'], ['tenant', 'create', 'zeta', '--credits', 'x'],
      ['credits', 'grant', 'acme', '5', '--request-id', 'no spaces'],
    ]) {
      const out = await cli(args, admin, 2);
      expect(out.trim().split('\n'), out).toHaveLength(1);
    }
    expect(await cli(['tenant', 'list'], admin)).not.toContain('zeta');
    expect(await cli(['credits', 'grant', 'acme', '5'], tenant, 1)).toContain('PERMISSION_DENIED');
    expect(await cli(['credits', 'grant', 'nobody', '5'], admin, 1)).toContain('NOT_FOUND');
  }, 60_000);

  it('makes a grant once per request id, and retries it while the coordinator is unreachable', async () => {
    const granted = async () => (JSON.parse(await cli(['credits', 'show', 'acme', '--limit', '0', '--json'], admin)) as { account: { granted: number } }).account.granted;
    const before = await granted();
    const grant = ['credits', 'grant', 'acme', '4', '--request-id', 'e2e-grant-1'];
    expect(await cli(grant, admin)).toContain('granted 4; tenant acme: ');
    // Sent again, as after an answer that never came: one line that says so, and nothing granted.
    expect(await cli(grant, admin)).toContain('request id e2e-grant-1 was granted before; nothing granted again; tenant acme: ');
    const other = await cli(['credits', 'grant', 'acme', '5', '--request-id', 'e2e-grant-1'], admin, 1);
    expect(other.trim()).toBe('latentfarm credits: INVALID_ARGUMENT: request_id: "e2e-grant-1" named a grant of 4 credits to tenant acme, not 5; a different grant needs a new request id');
    expect(await granted()).toBe(before + 4);

    // The coordinator cannot be reached at first: the grant is retried under its request id until it can.
    const gate = await openPortGate();
    try {
      const run = runCli(['credits', 'grant', 'acme', '3', '--coordinator', gate.address], { LATENTFARM_API_KEY: admin });
      await gate.refused(2);
      gate.forwardTo(Number(coordinator.address.split(':').at(-1)));
      const r = await run;
      expect(r.code, r.output).toBe(0);
      expect(r.output).toMatch(/retrying GrantCredits \(request id cli-[0-9a-f-]{36}, so it cannot grant twice\) until the deadline/);
      expect(r.output).toContain('granted 3; tenant acme: ');
    } finally {
      await gate.close();
    }
    expect(await granted()).toBe(before + 7);
  }, 60_000);
});
