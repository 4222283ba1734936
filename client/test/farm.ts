// A live farm for integration tests: an in-process coordinator on a free port
// and sim workers as separate processes, all over real gRPC on loopback.
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator, type CoordinatorConfig } from '@latentfarm/coordinator';
import { ImageFormat, Scheduler, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { spawnSimWorker, tempDir, eventually, type Proc, type WorkerOptions } from '@latentfarm/testkit';
import { FarmClient, type WatchEvent } from '../src/index.js';

export interface TestFarm {
  coordinator: Coordinator;
  client: FarmClient;
  workers: Proc[];
  addWorker(o?: WorkerOptions): Promise<Proc>;
  stop(): Promise<void>;
}

export async function startTestFarm(workers: number, o: WorkerOptions = {}, config: Partial<CoordinatorConfig> = {}, early: Proc[] = []): Promise<TestFarm> {
  const dir = await tempDir();
  const coordinator = await startCoordinator(
    defaultCoordinatorConfig({ port: 0, metricsPort: -1, dataDir: dir.path, leaseTtlMs: 3000, heartbeatMs: 200, ...config }),
    { log: createLogger('test', 'silent'), registry: new Registry() },
  );
  const client = new FarmClient(coordinator.address);
  const farm: TestFarm = {
    coordinator, client, workers: [...early],
    async addWorker(wo = o) {
      const before = (await client.getFarmStatus()).workers.length;
      const p = spawnSimWorker(coordinator.address, wo);
      farm.workers.push(p);
      await eventually(async () => (await client.getFarmStatus()).workers.length > before, 20_000, 'worker to connect');
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
  await eventually(async () => (await client.getFarmStatus()).workers.length >= workers + early.length, 30_000, `${workers} workers to connect`);
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
