// TLS for clients and mTLS for workers, over real gRPC on loopback: an
// in-process coordinator with --tls-cert/--tls-key/--tls-client-ca and a
// worker port of its own, a real sim worker with its client certificate, the
// SDK, and raw WorkerGateway clients playing the strangers. Certificates are
// issued at test time (testkit/src/certs.ts).
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FarmClient } from '@latentfarm/client';
import { ConfigError, createLogger, Registry } from '@latentfarm/common';
import {
  compileCoordinatorConfig, defaultCoordinatorConfig, startCoordinator, type Coordinator, type CoordinatorConfig,
} from '@latentfarm/coordinator';
import { JobState, WorkerGatewayClient, type ConnectResponse } from '@latentfarm/proto';
import { makeTestCa, eventually, tempDir, type CertFiles, type TestCa } from '@latentfarm/testkit';
import { defaultWorkerConfig, startWorker, type Worker } from '@latentfarm/worker';
import { collect, prompts, spec } from './farm.js';

const silent = createLogger('test', 'silent');

/** Says hello as `workerId` on a raw Connect stream: welcomed, or the status the coordinator (or the handshake) ended it with. */
function hello(address: string, channel: ChannelCredentials, workerId: string): Promise<{ welcomed: true } | { welcomed: false; error: ServiceError }> {
  const client = new WorkerGatewayClient(address, channel);
  return new Promise((resolve) => {
    const call = client.connect();
    call.on('data', (m: ConnectResponse) => {
      if (m.message?.$case !== 'welcome') return;
      call.cancel();
      client.close();
      resolve({ welcomed: true });
    });
    call.on('error', (error: ServiceError) => { client.close(); resolve({ welcomed: false, error }); });
    call.write({ message: { $case: 'hello', value: { workerId, models: ['sim'], maxBatch: 1, provider: 'cpu', device: '', engine: 'sim', version: '', modelDefaults: [] } } });
  });
}

const sslWith = async (ca: string, client?: CertFiles): Promise<ChannelCredentials> =>
  client === undefined
    ? credentials.createSsl(await readFile(ca))
    : credentials.createSsl(await readFile(ca), await readFile(client.key), await readFile(client.cert));

describe('TLS for clients, mTLS for workers', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let ca: TestCa;
  let rogue: TestCa;
  let coordinator: Coordinator;
  let caPem: Buffer;
  let client: FarmClient;
  const workers: Worker[] = [];

  beforeAll(async () => {
    dir = await tempDir();
    ca = await makeTestCa(dir.path, 'farm');
    rogue = await makeTestCa(dir.path, 'rogue');
    const server = await ca.server();
    coordinator = await startCoordinator(defaultCoordinatorConfig({
      port: 0, workerPort: 0, metricsPort: -1, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200,
      tlsCert: server.cert, tlsKey: server.key, tlsClientCa: ca.ca, noAuth: true,
    }), { log: silent, registry: new Registry() });
    caPem = await readFile(ca.ca);
    client = new FarmClient(coordinator.address, { tls: { ca: caPem } });
  });

  afterAll(async () => {
    for (const w of workers) await w.close();
    client?.close();
    await coordinator?.close();
    await dir?.remove();
  });

  const startTlsWorker = async (id: string, stepBaseMs = 2): Promise<Worker> => {
    const cert = await ca.client(id);
    const w = await startWorker(defaultWorkerConfig({
      coordinator: [coordinator.workerAddress], engine: 'sim', models: ['sim'], maxBatch: 4, simStepBaseMs: stepBaseMs, heartbeatMs: 200,
      reconnectBaseMs: 50, reconnectMaxMs: 500, metricsPort: -1, tlsCa: ca.ca, tlsCert: cert.cert, tlsKey: cert.key,
    }), { log: silent, registry: new Registry() });
    workers.push(w);
    await w.connected();
    return w;
  };

  it('serves clients over TLS on --port, and workers alone on --worker-port', async () => {
    expect(coordinator.workerAddress).not.toBe(coordinator.address);
    const s = await client.getFarmStatus();
    expect(s.queuedImages).toBe(0);
    // The client port has no WorkerGateway: a worker cannot skip the certificate check by dialling it.
    const r = await hello(coordinator.address, credentials.createSsl(caPem), 'anyone');
    expect(r.welcomed ? 'welcomed' : status[r.error.code]).toBe('UNIMPLEMENTED');
  });

  it('refuses a plaintext client with UNAVAILABLE', async () => {
    const plain = new FarmClient(coordinator.address, { retries: 1 });
    try {
      const err = await plain.getFarmStatus().then(() => undefined, (e: unknown) => e as ServiceError);
      expect(err?.code).toBe(status.UNAVAILABLE);
    } finally {
      plain.close();
    }
  });

  it('refuses a client that trusts another CA with UNAVAILABLE, saying the certificate is not trusted', async () => {
    const wrong = new FarmClient(coordinator.address, { retries: 1, tls: { ca: await readFile(rogue.ca) } });
    try {
      const err = await wrong.getFarmStatus().then(() => undefined, (e: unknown) => e as ServiceError);
      expect(err?.code).toBe(status.UNAVAILABLE);
      expect(err?.details).toMatch(/certificate/i);
    } finally {
      wrong.close();
    }
  });

  it('a worker with a client certificate from the farm\'s CA renders a job, each image once', async () => {
    await startTlsWorker('gpu-a');
    const { job } = await client.submitJob(spec(), prompts(6));
    const c = await collect(client, job?.id ?? '');
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(6);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    expect([...c.images.values()].every((e) => e.info.workerId === 'gpu-a')).toBe(true);
  });

  it('refuses a worker with no certificate, or one from another CA, at the handshake', async () => {
    const none = await hello(coordinator.workerAddress, await sslWith(ca.ca), 'nobody');
    expect(none.welcomed ? 'welcomed' : status[none.error.code]).toBe('UNAVAILABLE');
    const foreign = await hello(coordinator.workerAddress, await sslWith(ca.ca, await rogue.client('gpu-x')), 'gpu-x');
    expect(foreign.welcomed ? 'welcomed' : status[foreign.error.code]).toBe('UNAVAILABLE');
    const plain = await hello(coordinator.workerAddress, credentials.createInsecure(), 'plain');
    expect(plain.welcomed ? 'welcomed' : status[plain.error.code]).toBe('UNAVAILABLE');
    // The control: the same raw hello with a certificate naming its id is welcomed.
    const ok = await hello(coordinator.workerAddress, await sslWith(ca.ca, await ca.client('gpu-y')), 'gpu-y');
    expect(ok.welcomed).toBe(true);
  });

  it('refuses a hello whose id is not its certificate\'s name with PERMISSION_DENIED', async () => {
    const r = await hello(coordinator.workerAddress, await sslWith(ca.ca, await ca.client('gpu-x')), 'gpu-z');
    expect(r.welcomed ? 'welcomed' : status[r.error.code]).toBe('PERMISSION_DENIED');
    if (!r.welcomed) expect(r.error.details).toContain('"gpu-x"');
  });

  it('a worker whose certificate is renewed in place (cert-manager\'s csi-driver) presents the new one at its next reconnect', async () => {
    // It starts with a certificate the coordinator refuses (another CA), in the files it was told; then valid ones replace them.
    const files = { cert: join(dir.path, 'renewed.crt'), key: join(dir.path, 'renewed.key') };
    const refused = await rogue.client('gpu-renewed');
    await Promise.all([copyFile(refused.cert, files.cert), copyFile(refused.key, files.key)]);
    const w = await startWorker(defaultWorkerConfig({
      coordinator: [coordinator.workerAddress], engine: 'sim', models: ['sim'], heartbeatMs: 200, reconnectBaseMs: 50, reconnectMaxMs: 200,
      metricsPort: -1, tlsCa: ca.ca, tlsCert: files.cert, tlsKey: files.key,
    }), { log: silent, registry: new Registry() });
    workers.push(w);
    const renewed = await ca.client('gpu-renewed');
    await Promise.all([copyFile(renewed.cert, files.cert), copyFile(renewed.key, files.key)]);
    await w.connected();
    expect((await client.getFarmStatus()).workers.map((x) => x.id)).toContain('gpu-renewed');
  });

  it('an id hijack (a certificate for X claiming live worker Y\'s id) does no harm: Y keeps its leases and its stream', async () => {
    await startTlsWorker('gpu-live', 40);
    // Made before the job starts: openssl on a loaded machine can take longer than the job (10 batches of 8 steps of 40 ms).
    const thief = await sslWith(ca.ca, await ca.client('gpu-thief'));
    const { job } = await client.submitJob(spec({ params: { ...spec().params, steps: 8 } as NonNullable<ReturnType<typeof spec>['params']> }), prompts(40));
    const live = await eventually(async () => (await client.getFarmStatus()).workers.find((w) => w.id === 'gpu-live' && w.leased > 0), 30_000, 'gpu-live to hold leases');
    const r = await hello(coordinator.workerAddress, thief, 'gpu-live');
    expect(r.welcomed ? 'welcomed' : status[r.error.code]).toBe('PERMISSION_DENIED');
    const after = (await client.getFarmStatus()).workers.find((w) => w.id === 'gpu-live');
    // Replaced, the live worker's stream would have been closed and its leases requeued; it would reconnect later.
    expect(after?.connectedUnixMs).toBe(live.connectedUnixMs);
    expect(after?.leased).toBeGreaterThan(0);
    const c = await collect(client, job?.id ?? '');
    expect(c.duplicates).toEqual([]);
    expect(c.images.size).toBe(40);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    expect((await client.getFarmStatus()).workers.find((w) => w.id === 'gpu-live')?.connectedUnixMs).toBe(live.connectedUnixMs);
  });
});

describe('with API keys on, a worker\'s verified certificate is its credential on the mTLS worker port', () => {
  it('a worker with a certificate and no key renders; a client still needs its key', async () => {
    const dir = await tempDir();
    const stops: (() => Promise<void>)[] = [];
    try {
      const ca = await makeTestCa(dir.path, 'farm');
      const server = await ca.server();
      const coordinator = await startCoordinator(defaultCoordinatorConfig({
        port: 0, workerPort: 0, metricsPort: -1, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200,
        tlsCert: server.cert, tlsKey: server.key, tlsClientCa: ca.ca, noAuth: false,
      }), { log: silent, registry: new Registry() });
      stops.push(() => coordinator.close());
      const caPem = await readFile(ca.ca);
      const keyless = new FarmClient(coordinator.address, { tls: { ca: caPem }, apiKey: '', retries: 1 });
      stops.push(async () => keyless.close());
      const refused = await keyless.getFarmStatus().then(() => undefined, (e: unknown) => e as ServiceError);
      expect(refused?.code).toBe(status.UNAUTHENTICATED);
      const admin = new FarmClient(coordinator.address, { tls: { ca: caPem }, apiKey: coordinator.firstAdminKey ?? '' });
      stops.push(async () => admin.close());
      const cert = await ca.client('keyless-gpu');
      const w = await startWorker(defaultWorkerConfig({
        coordinator: [coordinator.workerAddress], engine: 'sim', models: ['sim'], heartbeatMs: 200, metricsPort: -1,
        tlsCa: ca.ca, tlsCert: cert.cert, tlsKey: cert.key,
      }), { log: silent, registry: new Registry() });
      stops.push(() => w.close());
      await w.connected();
      const { job } = await admin.submitJob(spec(), prompts(3));
      const c = await collect(admin, job?.id ?? '');
      expect(c.images.size).toBe(3);
      expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
      // The certificate names one worker: claiming another id is refused.
      const r = await hello(coordinator.workerAddress, await sslWith(ca.ca, await ca.client('keyless-other')), 'keyless-gpu');
      expect(r.welcomed ? 'welcomed' : status[r.error.code]).toBe('PERMISSION_DENIED');
    } finally {
      for (const stop of stops.reverse()) await stop();
      await dir.remove();
    }
  });
});

describe('TLS configuration errors fail the start with one line naming the flag', () => {
  it.each([
    ['a missing certificate', (f: Files) => ({ tlsCert: `${f.dir}/nope.crt`, tlsKey: f.server.key }), /^--tls-cert: cannot read ".*nope\.crt" \(no such file\)$/],
    ['a key that is not the certificate\'s', (f: Files) => ({ tlsCert: f.server.cert, tlsKey: f.other.key }), /^--tls-key: ".*" is not the key of the certificate in --tls-cert/],
    ['a key file that is no key', (f: Files) => ({ tlsCert: f.server.cert, tlsKey: f.server.cert }), /^--tls-key: ".*" is not a PEM private key/],
    ['a client CA that is no certificate', (f: Files) => ({ tlsCert: f.server.cert, tlsKey: f.server.key, tlsClientCa: f.server.key, workerPort: 0 }), /^--tls-client-ca: ".*" holds no PEM certificate/],
  ])('%s', async (_what, settings, message) => {
    await withFiles(async (f) => {
      const err = await startCoordinator(defaultCoordinatorConfig({ port: 0, metricsPort: -1, dataDir: f.dir, noAuth: true, ...settings(f) }), { log: silent, registry: new Registry() })
        .then(async (c) => { await c.close(); return undefined; }, (e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    });
  });
});

describe('TLS flags that do not go together are one line before anything starts', () => {
  const coordinatorProblem = (o: Partial<CoordinatorConfig>) => {
    try {
      compileCoordinatorConfig(defaultCoordinatorConfig(o));
      return undefined;
    } catch (err) {
      return err instanceof ConfigError ? err.message : err;
    }
  };
  it.each([
    [{ tlsCert: 'c.pem' }, '--tls-cert: needs --tls-key'],
    [{ tlsKey: 'k.pem' }, '--tls-key: needs --tls-cert'],
    [{ tlsClientCa: 'ca.pem', workerPort: 7401 }, '--tls-client-ca: needs --tls-cert and --tls-key (mTLS is TLS first)'],
    [{ tlsCert: 'c.pem', tlsKey: 'k.pem', tlsClientCa: 'ca.pem' }, /^--tls-client-ca: workers need a port of their own with mTLS .*set --worker-port/],
    [{ port: 7400, workerPort: 7400 }, /^--worker-port: 7400 is --port too/],
  ] as const)('coordinator %j', (o, message) => {
    expect(coordinatorProblem(o)).toMatch(message);
  });

  it('worker --tls-cert without --tls-key', () => {
    expect(() => defaultWorkerConfig({ tlsCert: 'c.pem' })).toThrow(/^--tls-cert: needs --tls-key$/);
  });
});

interface Files { dir: string; server: CertFiles; other: CertFiles }

async function withFiles(fn: (f: Files) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    const ca = await makeTestCa(dir.path);
    await fn({ dir: dir.path, server: await ca.server(), other: await ca.client('someone') });
  } finally {
    await dir.remove();
  }
}
