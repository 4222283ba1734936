// A live farm for integration tests: an in-process coordinator on a free port
// and sim workers as separate processes, all over real gRPC on loopback.
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator, type CoordinatorConfig } from '@latentfarm/coordinator';
import { ImageFormat, Scheduler, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { spawnSimWorker, tempDir, eventually, type Proc, type SimWorker, type WorkerOptions } from '@latentfarm/testkit';
import { FarmClient, type WatchEvent } from '@latentfarm/client';

export interface TestFarm {
  coordinator: Coordinator;
  client: FarmClient;
  /** The coordinator's metrics, read in-process. */
  registry: Registry;
  workers: Proc[];
  /** Starts a sim worker and waits until the coordinator lists this very worker. */
  addWorker(o?: WorkerOptions): Promise<SimWorker>;
  stop(): Promise<void>;
}

/**
 * Waits until GetFarmStatus lists every one of `ids` (by id: a count can be met by the wrong workers), failing at
 * once if one of `procs` exits. The bound only catches a hang: a worker process takes a few CPU-seconds to start,
 * and on a loaded 2-core machine several starting at once can take half a minute.
 */
export async function workersConnected(client: FarmClient, ids: readonly string[], procs: readonly Proc[] = [], timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    for (const p of procs) if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`a worker exited before connecting:\n${p.output()}`);
    const connected = new Set((await client.getFarmStatus()).workers.map((w) => w.id));
    return ids.every((id) => connected.has(id));
  }, timeoutMs, `workers ${ids.join(', ')} to connect`);
}

/**
 * `early`: worker processes started before the coordinator, that must connect too; `listening` is told the
 * coordinator's port before any worker is waited for (to point the early ones at it).
 */
export async function startTestFarm(
  workers: number, o: WorkerOptions = {}, config: Partial<CoordinatorConfig> = {}, early: SimWorker[] = [], listening?: (port: number) => void,
): Promise<TestFarm> {
  const dir = await tempDir();
  const registry = new Registry();
  const coordinator = await startCoordinator(
    // Farm behaviour, not auth (authorization.e2e.test.ts runs a farm with keys): every caller is the local admin.
    defaultCoordinatorConfig({ port: 0, metricsPort: -1, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200, noAuth: true, ...config }),
    { log: createLogger('test', 'silent'), registry },
  );
  listening?.(coordinator.port);
  const client = new FarmClient(coordinator.address);
  const farm: TestFarm = {
    coordinator, client, registry, workers: [...early],
    async addWorker(wo = o) {
      // A fresh id each time (unless given): the new worker is found by name, whoever else comes or goes meanwhile.
      const p = spawnSimWorker(coordinator.address, wo);
      farm.workers.push(p);
      await workersConnected(client, [p.id], [p]);
      return p;
    },
    async stop() {
      for (const w of farm.workers) w.kill('SIGKILL');
      await Promise.all(farm.workers.map((w) => w.exited()));
      client.close();
      await coordinator.close();
      await dir.remove();
    },
  };
  // Start workers in parallel: each process takes about a second to boot.
  const procs = Array.from({ length: workers }, () => spawnSimWorker(coordinator.address, o));
  farm.workers.push(...procs);
  await workersConnected(client, [...procs, ...early].map((p) => p.id), [...procs, ...early]);
  return farm;
}

export function spec(overrides: Partial<JobSpec> = {}): JobSpec {
  return {
    model: 'sim', priority: 5, labels: {}, idempotencyKey: '',
    params: { width: 64, height: 64, steps: 4, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, seed: 1000 },
    ...overrides,
  };
}

export const prompts = (n: number, images = 1): PromptEntry[] =>
  Array.from({ length: n }, (_, i) => ({ prompt: `prompt ${i}`, negativePrompt: '', images }));

export interface Collected {
  images: Map<string, WatchEvent & { type: 'image' }>;
  duplicates: string[];
  states: number[];
  lastSequence: number;
}

/** Watches a job to its end (or until `stopAfter` images), counting every image event. */
export async function collect(
  client: FarmClient, jobId: string,
  o: { afterSequence?: number; stopAfter?: number; referencesOnly?: boolean; noProgress?: boolean; into?: Collected } = {},
): Promise<Collected> {
  const c: Collected = o.into ?? { images: new Map(), duplicates: [], states: [], lastSequence: o.afterSequence ?? 0 };
  const ac = new AbortController();
  for await (const ev of client.watch(jobId, { afterSequence: o.afterSequence ?? 0, referencesOnly: o.referencesOnly ?? true, noProgress: o.noProgress ?? false, signal: ac.signal })) {
    if (ev.type === 'progress') continue;
    c.lastSequence = ev.sequence;
    if (ev.type === 'state') c.states.push(ev.state);
    else {
      if (c.images.has(ev.info.id)) c.duplicates.push(ev.info.id);
      c.images.set(ev.info.id, ev);
      if (o.stopAfter !== undefined && c.images.size >= o.stopAfter) {
        ac.abort();
        break;
      }
    }
  }
  return c;
}
