// TLS and mTLS as a user runs them: `latentfarm serve` with --tls-cert,
// --tls-key, --tls-client-ca and a worker port; a `latentfarm worker` process
// with its client certificate; `submit --watch --tls-ca`. Certificates are
// issued at test time (testkit/src/certs.ts).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmClient } from '@latentfarm/client';
import { JobState } from '@latentfarm/proto';
import {
  loggedField, makeTestCa, runCli, spawnCoordinator, spawnSimWorker, tempDir, type CoordinatorProc, type SimWorker, type TestCa,
} from '@latentfarm/testkit';
import { workersConnected } from './farm.js';

function oneLine(output: string, re: RegExp): void {
  const lines = output.trim().split('\n');
  expect(lines, output).toHaveLength(1);
  expect(lines[0], output).toMatch(re);
}

describe('latentfarm serve/worker/submit over TLS and mTLS', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let ca: TestCa;
  let rogue: TestCa;
  let coordinator: CoordinatorProc;
  let workerAddress: string;
  let client: FarmClient;
  const workers: SimWorker[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    ca = await makeTestCa(dir.path, 'farm');
    rogue = await makeTestCa(dir.path, 'rogue');
    const server = await ca.server();
    coordinator = await spawnCoordinator(['--data-dir', join(dir.path, 'data'), '--worker-port', '0',
      '--tls-cert', server.cert, '--tls-key', server.key, '--tls-client-ca', ca.ca]);
    workerAddress = `127.0.0.1:${await loggedField<number>(coordinator, 'coordinator listening', 'workerPort', 'number')}`;
    client = new FarmClient(coordinator.address, { tls: { ca: await readFile(ca.ca) } });
  });

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited()));
    client?.close();
    coordinator?.kill('SIGKILL');
    await coordinator?.exited();
    await dir?.remove();
  });

  const tlsWorker = async (id: string, issuer: TestCa, extra: string[] = []): Promise<SimWorker> => {
    const cert = await issuer.client(id);
    const w = spawnSimWorker(workerAddress, { id, extra: ['--tls-ca', ca.ca, '--tls-cert', cert.cert, '--tls-key', cert.key, ...extra] });
    workers.push(w);
    return w;
  };

  it('a worker with its certificate renders what `submit --watch --tls-ca` asks, each image once, exit 0', async () => {
    const w = await tlsWorker('tls-worker-1', ca);
    await workersConnected(client, [w.id], [w]);
    const out = join(dir.path, 'out');
    const r = await runCli(['submit', '--coordinator', coordinator.address, '--tls-ca', ca.ca, '--prompt', 'a red circle', '--images', '5',
      '--steps', '2', '--width', '64', '--height', '64', '--watch', '--out', out]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).not.toContain('DEP0123');
    expect((await readdir(out)).sort()).toEqual(['00000.png', '00001.png', '00002.png', '00003.png', '00004.png']);
    const id = /^submitted (j\w+): 5 images/m.exec(r.output)?.[1] ?? '';
    const job = await client.getJob(id);
    expect(job.state).toBe(JobState.SUCCEEDED);
    expect(job.images?.succeeded).toBe(5);
    expect(job.images?.total).toBe(5);
  });

  it('the tenant and key commands take --tls-ca too (deploy/README.md makes tenant keys that way)', async () => {
    const made = await runCli(['tenant', 'create', 'tls-tenant', '--coordinator', coordinator.address, '--tls-ca', ca.ca]);
    expect(made.code, made.output).toBe(0);
    const keys = await runCli(['key', 'create', '--role', 'tenant', '--tenant', 'tls-tenant', '--coordinator', coordinator.address, '--tls-ca', ca.ca]);
    expect(keys.code, keys.output).toBe(0);
    expect(keys.output).toMatch(/lf_[0-9a-f]{16}_/);
    const plain = await runCli(['key', 'list', '--coordinator', coordinator.address]);
    expect(plain.code, plain.output).toBe(1);
    oneLine(plain.output, /^latentfarm key: cannot reach the coordinator at 127\.0\.0\.1:\d+: .*; a coordinator serving TLS needs --tls-ca \(or --tls\)$/);
  });

  it('a plaintext client at the TLS port: one line, exit 1, naming --tls-ca', async () => {
    const r = await runCli(['status', '--coordinator', coordinator.address]);
    expect(r.code, r.output).toBe(1);
    oneLine(r.output, /^latentfarm status: cannot reach the coordinator at 127\.0\.0\.1:\d+: .*; a coordinator serving TLS needs --tls-ca \(or --tls\)$/);
  });

  it('a client trusting another CA: one line, exit 1, saying the certificate is not trusted', async () => {
    const r = await runCli(['status', '--coordinator', coordinator.address, '--tls-ca', rogue.ca]);
    expect(r.code, r.output).toBe(1);
    oneLine(r.output, /^latentfarm status: cannot reach the coordinator at 127\.0\.0\.1:\d+: its TLS certificate is not trusted — set --tls-ca/);
  });

  it('a submit that does not trust the coordinator is not retried until the deadline: one line, exit 1', async () => {
    const r = await runCli(['submit', '--coordinator', coordinator.address, '--tls-ca', rogue.ca, '--prompt', 'x', '--deadline-ms', '600000']);
    expect(r.code, r.output).toBe(1);
    oneLine(r.output, /^latentfarm submit: cannot reach the coordinator at 127\.0\.0\.1:\d+: its TLS certificate is not trusted — set --tls-ca/);
  });

  it('a --tls-ca that cannot be read: one line, exit 2', async () => {
    const r = await runCli(['status', '--coordinator', coordinator.address, '--tls-ca', join(dir.path, 'missing.crt')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm status: --tls-ca: cannot read ".*missing\.crt" \(no such file\)$/);
  });

  it('a worker whose --id is not its certificate\'s name does not start: one line, exit 2', async () => {
    const cert = await ca.client('cert-name');
    const r = await runCli(['worker', '--coordinator', workerAddress, '--engine', 'sim', '--metrics-port', '-1', '--id', 'other-name',
      '--tls-ca', ca.ca, '--tls-cert', cert.cert, '--tls-key', cert.key]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm worker: --id: "other-name" is not the name in --tls-cert \("cert-name"\)/);
  });

  it('a worker with a certificate from another CA is refused at the handshake, again at each reconnect', async () => {
    const w = await tlsWorker('rogue-worker', rogue);
    // grpc-js says no more than "Failed to connect" for a client certificate the server rejected (TLS 1.3 sends the alert after the handshake).
    let reconnects = 0;
    await w.line((l) => (l.includes('connection to coordinator lost; reconnecting') && /"reason":"[^"]*(certificate|Failed to connect)/.test(l) && ++reconnects === 2 ? l : undefined),
      'two reconnect lines with a reason');
    expect(w.output()).not.toContain('"msg":"connected"');
    expect((await client.getFarmStatus()).workers.map((x) => x.id)).not.toContain('rogue-worker');
  });
});
