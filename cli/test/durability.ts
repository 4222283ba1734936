// A farm on JetStream for the durability tests: a nats-server the test can
// kill, pause and restart, coordinators as separate processes the test can
// SIGKILL and bring back on the same port, and sim worker processes.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { FinishReason } from '@latentfarm/proto';
import {
  eventually, spawnCoordinator, spawnSimWorker, startNatsServer, tempDir,
  type ChattyLevel, type CoordinatorProc, type NatsServer, type SimWorker, type WorkerOptions,
} from '@latentfarm/testkit';
import { AdminClient, FarmClient, Role } from '@latentfarm/client';
import { generateApiKey } from '@latentfarm/coordinator';
import { collect, spec, type Collected } from './farm.js';

export const LEASE_TTL_MS = 3_000;

/**
 * Each durability test's time limit. Every wait inside is on an event; this only stops a test that hangs. It is
 * wide because the tests start 6 to 10 processes (nats-server, coordinators, 4 workers, restarts), each a few
 * CPU-seconds of loading TypeScript: on an idle 2-core machine a test takes about a minute, on a loaded one
 * (the suite twice at once) about two.
 */
export const TEST_BUDGET_MS = 300_000;

/**
 * One coordinator process, restartable on the port it got: its first start binds port 0 and reports the port;
 * restarts bind that port again, as a real coordinator's clients and workers keep its address.
 */
export class CoordinatorProcess {
  private proc: CoordinatorProc;
  /** The admin's client (a farm with keys: the admin key's). */
  readonly client: FarmClient;
  /** On a metered farm, the paying tenant's client: jobs submitted through it reserve and settle credits. */
  tenant: FarmClient | undefined;

  private constructor(proc: CoordinatorProc, private readonly args: string[], private readonly logLevel: ChattyLevel, adminKey: string | undefined) {
    this.proc = proc;
    // Retries as the SDK does by default: an idempotent call (a read, a keyed submit) that meets an overloaded store
    // gets UNAVAILABLE, "retry later", and a real client retries it.
    this.client = new FarmClient(this.address, { deadlineMs: 10_000, ...(adminKey === undefined ? {} : { apiKey: adminKey }) });
  }

  /** Starts the process and waits until it answers. */
  static async start(args: string[], logLevel: ChattyLevel, adminKey?: string): Promise<CoordinatorProcess> {
    const c = new CoordinatorProcess(await spawnCoordinator(args, { logLevel }), args, logLevel, adminKey);
    await c.answering();
    return c;
  }

  /** The tenant's key: its client is made here, on this coordinator's address (kept across restarts). */
  useTenant(apiKey: string): void {
    this.tenant = new FarmClient(this.address, { deadlineMs: 10_000, apiKey });
  }

  /** Where the fault cases submit and watch: the tenant's client on a metered farm, else the admin's. */
  get submitter(): FarmClient {
    return this.tenant ?? this.client;
  }

  get port(): number {
    return this.proc.port;
  }

  get address(): string {
    return this.proc.address;
  }

  /** The log line says the server is bound; a first answer says it serves. */
  private async answering(): Promise<void> {
    const p = this.proc;
    await eventually(async () => {
      if (p.child.exitCode !== null) throw new Error(`coordinator exited at start:\n${p.output()}`);
      return this.client.getFarmStatus().then(() => true, () => false);
    }, 60_000, `coordinator on ${this.address}`);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.kill(signal);
    await p.exited();
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    this.proc = await spawnCoordinator(this.args, { port: this.port, logLevel: this.logLevel });
    await this.answering();
  }

  output(): string {
    return this.proc.output();
  }
}

/** Coordinators and sim workers as processes a test can kill; what the fault cases (durability-cases.ts) need. */
export interface FaultFarm {
  coordinators: CoordinatorProcess[];
  /** A metered farm (keys on): the tenant whose jobs the cases submit, paying credits; undefined: no keys, admin jobs. */
  tenantId: string | undefined;
  workers: SimWorker[];
  addWorker(coordinator: CoordinatorProcess | string, o?: WorkerOptions): SimWorker;
  /** Each process's last lines (and, on JetStream, the streams and consumers), for a failed test's report. */
  diagnostics(): Promise<string>;
  stop(): Promise<void>;
}

/** A farm on JetStream: the fault cases plus a nats-server the test can kill, pause and restart. */
export interface DurableFarm extends FaultFarm {
  nats: NatsServer;
  prefix: string;
}

/** The last lines of a process's output, headed by its name, for a failed test's report. */
export const tail = (name: string, text: string, lines = 40): string => `--- ${name} (last ${lines} lines)\n${text.trimEnd().split('\n').slice(-lines).join('\n')}\n`;

/** Sim workers this fast finish a 2,000-image job in well under a minute, slow enough that faults land mid-job. */
export const WORKER: WorkerOptions = { maxBatch: 8, stepBaseMs: 8, stepPerImageMs: 0.5 };
export const jobSpec = (o: Parameters<typeof spec>[0] = {}) => spec({ params: { ...spec().params!, steps: 10 }, ...o });

/**
 * LATENTFARM_TEST_LOG_LEVEL=debug (or trace) shows more of the coordinators' logs when a failure is reported
 * (info is the least: the port a coordinator bound is read from its log).
 */
export function coordinatorLogLevel(): ChattyLevel {
  const wanted = process.env['LATENTFARM_TEST_LOG_LEVEL'];
  return wanted === 'debug' || wanted === 'trace' ? wanted : 'info';
}

/** A fresh stream and bucket prefix, so tests never share JetStream state. */
export const natsPrefix = (): string => `lf${randomBytes(3).toString('hex')}`;

/** `serve` flags of a coordinator on JetStream at `natsUrl` (comma-separated servers), with short leases for fault tests. */
export const coordinatorArgs = (natsUrl: string, prefix: string, dataDir: string, extra: string[] = []): string[] => [
  '--nats-url', natsUrl, '--nats-prefix', prefix, '--nats-timeout-ms', '2000',
  '--lease-ttl-ms', String(LEASE_TTL_MS), '--heartbeat-ms', '200', '--data-dir', dataDir, ...extra,
];

/** `serve` flags of a coordinator on the embedded store in `dataDir`, with the fault tests' short leases. */
export const embeddedCoordinatorArgs = (dataDir: string): string[] => [
  '--lease-ttl-ms', String(LEASE_TTL_MS), '--heartbeat-ms', '200', '--data-dir', dataDir,
];

/** The tenant of a metered fault farm, and what it is granted: far more than its jobs cost, so only the ledger is under test. */
export const FAULT_TENANT = 'fault';
const FAULT_CREDITS = 100_000;
/** Worker keys a metered farm makes at start (each bound to one worker id): more than any case starts workers. */
const WORKER_KEYS = 24;

/** Keys on: an admin key file, a tenant with credits and its key on every coordinator, and a pool of worker keys. */
async function meter(coordinators: CoordinatorProcess[], adminKey: string): Promise<{ id: string; key: string }[]> {
  const admin = new AdminClient(coordinators[0]!.address, { apiKey: adminKey, deadlineMs: 20_000 });
  try {
    await admin.createTenant(FAULT_TENANT);
    await admin.grantCredits(FAULT_TENANT, FAULT_CREDITS);
    const tenantKey = (await admin.createKey({ role: Role.TENANT, tenantId: FAULT_TENANT })).secretKey;
    for (const c of coordinators) c.useTenant(tenantKey);
    const run = randomBytes(3).toString('hex');
    return await Promise.all(Array.from({ length: WORKER_KEYS }, async (_, i) => {
      const id = `sim-${run}-${i}`;
      return { id, key: (await admin.createKey({ role: Role.WORKER, workerId: id })).secretKey };
    }));
  } finally {
    admin.close();
  }
}

/**
 * Coordinators started with `args`, workers added on demand; `more` adds to the diagnostics and the stop.
 * `keyDir`: a metered farm (keys on, the cases' jobs a tenant's); its admin key file is written there.
 */
async function faultFarm(args: string[], count: number, more: { diagnostics(): Promise<string[]>; stop(): Promise<void> }, keyDir?: string): Promise<FaultFarm> {
  const logLevel = coordinatorLogLevel();
  const adminKey = keyDir === undefined ? undefined : generateApiKey();
  const keyArgs: string[] = [];
  if (keyDir !== undefined && adminKey !== undefined) {
    const file = join(keyDir, 'admin.key');
    await writeFile(file, `${adminKey}\n`, { mode: 0o600 });
    keyArgs.push('--admin-key-file', file);
  }
  const coordinators = await Promise.all(Array.from({ length: count }, () => CoordinatorProcess.start([...args, ...keyArgs], logLevel, adminKey)));
  const workerKeys = adminKey === undefined ? [] : await meter(coordinators, adminKey);
  const farm: FaultFarm = {
    coordinators, workers: [], tenantId: adminKey === undefined ? undefined : FAULT_TENANT,
    addWorker(coordinator, wo = WORKER) {
      let o = wo;
      if (adminKey !== undefined) {
        // Keys on: each worker connects with a key bound to its id, taken from the pool made at start.
        if (wo.id !== undefined) throw new Error('a metered fault farm names its workers itself');
        const k = workerKeys.shift();
        if (k === undefined) throw new Error(`more than ${WORKER_KEYS} workers on a metered fault farm`);
        o = { ...wo, id: k.id, extra: [...(wo.extra ?? []), '--api-key', k.key] };
      }
      const p = spawnSimWorker(typeof coordinator === 'string' ? coordinator : coordinator.address, o);
      farm.workers.push(p);
      return p;
    },
    async diagnostics() {
      return [
        ...coordinators.map((c, i) => tail(`coordinator ${i} on ${c.address}`, c.output())),
        ...farm.workers.map((w, i) => tail(`worker ${i}`, w.output(), 8)),
        ...(await more.diagnostics()),
      ].join('');
    },
    async stop() {
      for (const w of farm.workers) w.kill('SIGKILL');
      await Promise.all(farm.workers.map((w) => w.exited()));
      for (const c of coordinators) {
        c.client.close();
        c.tenant?.close();
      }
      await Promise.all(coordinators.map((c) => c.kill('SIGKILL')));
      await more.stop();
    },
  };
  return farm;
}

/** `metered`: keys on, and the cases' jobs are a tenant's, paid from its credits (see faultFarm). */
export async function startDurableFarm(o: { coordinators?: number; extraArgs?: string[]; metered?: boolean } = {}): Promise<DurableFarm> {
  const nats = await startNatsServer();
  const dir = await tempDir();
  const prefix = natsPrefix();
  const farm = await faultFarm(coordinatorArgs(nats.url, prefix, dir.path, o.extraArgs), o.coordinators ?? 1, {
    diagnostics: async () => [tail('nats-server', nats.output()), tail('JetStream state', await nats.jetstreamState(), 60)],
    async stop() {
      await nats.stop();
      await dir.remove();
    },
  }, o.metered === true ? dir.path : undefined);
  return Object.assign(farm, { nats, prefix });
}

/** One coordinator on the embedded store (its data dir kept across its restarts), for the same fault cases. */
export async function startEmbeddedFarm(o: { metered?: boolean } = {}): Promise<FaultFarm> {
  const dir = await tempDir();
  return faultFarm(embeddedCoordinatorArgs(dir.path), 1, {
    diagnostics: () => Promise.resolve([]),
    stop: () => dir.remove(),
  }, o.metered === true ? dir.path : undefined);
}

/** What a test's farm must offer to be stopped after the test. */
export interface Stoppable {
  diagnostics(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Call inside a describe: each test's farm, passed through the returned function, is stopped after the test,
 * and a failed test first gets the farm's diagnostics on stderr.
 */
export function stopsAfterEachTest(): <F extends Stoppable>(farm: F) => F {
  let current: Stoppable | undefined;
  afterEach(async (ctx) => {
    const farm = current;
    current = undefined;
    if (farm === undefined) return;
    if (ctx.task.result?.state === 'fail') process.stderr.write(await farm.diagnostics());
    await farm.stop();
  });
  return (farm) => {
    current = farm;
    return farm;
  };
}

/** Waits until the coordinator lists every one of these workers (by id: a count can be met by the wrong ones). */
export async function workersConnected(c: CoordinatorProcess, workers: readonly SimWorker[], timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    for (const w of workers) if (w.child.exitCode !== null || w.child.signalCode !== null) throw new Error(`worker ${w.id} exited:\n${w.output()}`);
    const connected = new Set((await c.client.getFarmStatus()).workers.map((w) => w.id));
    return workers.every((w) => connected.has(w.id));
  }, timeoutMs, `workers ${workers.map((w) => w.id).join(', ')} to connect to ${c.address}`);
}

/** Watches a job to its end like `collect`, with a live count of distinct images (to time faults by progress). */
export function watchJob(client: FarmClient, jobId: string): { done: Promise<Collected>; images: () => number } {
  const c: Collected = { images: new Map(), duplicates: [], states: [], lastSequence: 0 };
  return { done: collect(client, jobId, { noProgress: true, into: c }), images: () => c.images.size };
}

export const allSucceeded = (c: Collected): boolean => [...c.images.values()].every((e) => e.info.finishReason === FinishReason.SUCCESS);

/** Waits until the watcher has seen `n` images. */
export function imagesSeen(w: { images: () => number }, n: number, timeoutMs = 90_000): Promise<true> {
  return eventually(() => w.images() >= n, timeoutMs, `${n} images`);
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';
const HEALTH = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** grpc.health.v1.Health/Check for the whole server, encoded by hand (one enum field). */
export function healthStatus(address: string, timeoutMs = 3_000): Promise<HealthStatus> {
  const c = new Client(address, credentials.createInsecure());
  return new Promise<HealthStatus>((resolve) => {
    c.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: new Date(Date.now() + timeoutMs) },
      (err: ServiceError | null, res?: Buffer) => {
        if (err !== null || res === undefined) resolve('UNREACHABLE');
        // HealthCheckResponse { status = 1 (enum) }: tag 0x08, then the value; absent means 0.
        else resolve(HEALTH[res.length >= 2 && res[0] === 0x08 ? res[1] ?? 0 : 0] ?? 'UNKNOWN');
      });
  }).finally(() => c.close());
}
