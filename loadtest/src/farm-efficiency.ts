// The farm efficiency workload of issue 11, in two topologies: `up` (the
// coordinator, the workers and the watcher in one process, as `latentfarm up
// --workers 16` runs them) and `serve` (a coordinator process, one process per
// worker, the watcher in this process, as `submit --watch` runs). Efficiency is
// images ÷ (job finished − job created) ÷ the farm's ideal rate; the breakdown
// says where the rest of the time went, from the workers' own metrics.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { FarmClient } from '@latentfarm/client';
import { ImageFormat, Scheduler, type Job, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { defaultWorkerConfig, startWorker, type Worker } from '@latentfarm/worker';
import { spawnCoordinator, spawnSimWorker, tempDir, type CoordinatorProc, type SimWorker } from '@latentfarm/testkit';
import { cpuSeconds, machineBusySeconds } from './proc-stats.js';
import { parse, scrapeAt } from './prom-text.js';
import { measureBreakdown, type Breakdown, type WorkerSnapshot } from './breakdown.js';
import { idealImagesPerSecond, type Workload } from './workload.js';

export type Topology = 'up' | 'serve';

export interface EfficiencyResult {
  topology: Topology;
  workload: Workload;
  images: number;
  /** Job finished − job created, as the coordinator recorded them. */
  seconds: number;
  idealImagesPerSecond: number;
  efficiency: number;
  /** CPU the farm's processes used over the job, in cores (this machine has os.availableParallelism()). */
  cpuCores: number;
  /**
   * CPU the rest of the machine used meanwhile, in cores: other programs, and in `serve` this process (the watcher
   * writing the images). The farm's steps wait for a core when the machine is busy, so a run beside other work
   * measures less than the farm can do.
   */
  otherCpuCores: number;
  breakdown: Breakdown;
}

/** One farm running: its address, a way to read each worker's metrics, and a way to stop it. */
interface Farm {
  address: string;
  /** Each worker's metrics, with when they were read (Unix ms). */
  workerMetrics(): Promise<WorkerSnapshot[]>;
  /** CPU seconds the farm's processes have used so far (the watcher's too in `up`, as there). */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

const workerArgs = (w: Workload) => ({ maxBatch: w.maxBatch, simStepBaseMs: w.stepMs, simStepPerImageMs: 0 });

async function startUpFarm(w: Workload, dataDir: string): Promise<Farm> {
  const log = createLogger('bench', 'warn');
  const coordinator: Coordinator = await startCoordinator(
    // Measures the farm itself; keys cost one store read per client call and none per worker message (one stream each).
    defaultCoordinatorConfig({ host: '127.0.0.1', port: 0, metricsPort: -1, dataDir, models: ['sim'], logLevel: 'warn', noAuth: true }),
    { log, registry: new Registry() },
  );
  const workers: Worker[] = [];
  const registries: Registry[] = [];
  for (let i = 0; i < w.workers; i++) {
    const registry = new Registry();
    registries.push(registry);
    workers.push(await startWorker(defaultWorkerConfig({
      coordinator: [coordinator.address], id: `local-${i}`, engine: 'sim', models: ['sim'], metricsPort: -1, ...workerArgs(w),
    }), { log, registry }));
  }
  await Promise.all(workers.map((x) => x.connected()));
  return {
    address: coordinator.address,
    cpuSeconds: () => {
      const u = process.cpuUsage();
      return Promise.resolve((u.user + u.system) / 1e6);
    },
    workerMetrics: () => Promise.all(registries.map(async (r) => {
      // Read in this process, in a millisecond or so: the time of asking is the time of the reading.
      const at = Date.now();
      return { at, series: parse(await r.metrics()) };
    })),
    async stop() {
      await Promise.all(workers.map((x) => x.close()));
      await coordinator.close();
    },
  };
}

async function startServeFarm(w: Workload, dataDir: string): Promise<Farm> {
  const coordinator: CoordinatorProc = await spawnCoordinator(['--data-dir', dataDir]);
  const workers: SimWorker[] = [];
  const stop = async () => {
    for (const p of workers) p.kill('SIGKILL');
    coordinator.kill('SIGKILL');
    await Promise.all([...workers.map((p) => p.exited()), coordinator.exited()]);
  };
  try {
    for (let i = 0; i < w.workers; i++) {
      workers.push(spawnSimWorker(coordinator.address, {
        id: `proc-${i}`, metrics: true, maxBatch: w.maxBatch, stepBaseMs: w.stepMs, stepPerImageMs: 0,
        // The worker's own defaults, not the test helper's quick heartbeat and reconnect.
        extra: ['--heartbeat-ms', '3000'],
      }));
    }
    const ports = await Promise.all(workers.map((p) => p.metricsPort()));
    const client = new FarmClient(coordinator.address);
    try {
      for (let t = 0; (await client.getFarmStatus()).workers.length < w.workers; t++) {
        if (t > 600) throw new Error(`${w.workers} workers did not connect`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      client.close();
    }
    return {
      address: coordinator.address,
      cpuSeconds: async () => (await Promise.all([coordinator, ...workers].map((p) => cpuSeconds(p.child.pid as number)))).reduce((a, b) => a + b, 0),
      workerMetrics: () => Promise.all(ports.map((port) => scrapeAt(`http://127.0.0.1:${port}/metrics`))),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function spec(w: Workload): JobSpec {
  return {
    model: 'sim', priority: 5, labels: { bench: 'farm-efficiency' }, idempotencyKey: '',
    params: { width: w.size, height: w.size, steps: w.steps, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, seed: 1 },
  };
}

const entries = (w: Workload): PromptEntry[] => Array.from({ length: w.images }, (_, i) => ({ prompt: `shape ${i}`, negativePrompt: '', images: 1 }));

/**
 * Submits the job and follows it as `submit --watch --out` does: progress
 * events on, every image's bytes fetched and written to a folder.
 */
async function submitAndWatch(farm: Farm, w: Workload, out: string): Promise<{ job: Job; firstImage: Promise<WorkerSnapshot[]> }> {
  const client = new FarmClient(farm.address);
  try {
    const { job } = await client.submitJobStream(spec(w), entries(w));
    if (job === undefined) throw new Error('submit returned no job');
    let firstImage: Promise<WorkerSnapshot[]> | undefined;
    for await (const ev of client.watch(job.id)) {
      if (ev.type !== 'image') continue;
      // Read once the first image is in: the idle time until then is the ramp-up.
      firstImage ??= farm.workerMetrics();
      await writeFile(join(out, `${String(ev.info.index).padStart(5, '0')}.png`), ev.data);
    }
    if (firstImage === undefined) throw new Error('the job finished with no image');
    return { job: await client.getJob(job.id), firstImage };
  } finally {
    client.close();
  }
}

export async function runEfficiency(topology: Topology, w: Workload): Promise<EfficiencyResult> {
  const dir = await tempDir();
  try {
    const out = join(dir.path, 'out');
    await mkdir(out);
    const farm = topology === 'up' ? await startUpFarm(w, join(dir.path, 'data')) : await startServeFarm(w, join(dir.path, 'data'));
    try {
      const before = await farm.workerMetrics();
      const cpu0 = await farm.cpuSeconds();
      const machine0 = await machineBusySeconds();
      const { job, firstImage } = await submitAndWatch(farm, w, out);
      const machine = (await machineBusySeconds()) - machine0;
      const cpu = (await farm.cpuSeconds()) - cpu0;
      const after = await farm.workerMetrics();
      const seconds = (Number(job.finishedUnixMs) - Number(job.createdUnixMs)) / 1000;
      const images = job.images?.succeeded ?? 0;
      const ideal = idealImagesPerSecond(w);
      return {
        topology, workload: w, images, seconds, idealImagesPerSecond: ideal, efficiency: images / seconds / ideal, cpuCores: cpu / seconds,
        otherCpuCores: Math.max(0, machine - cpu) / seconds,
        breakdown: measureBreakdown(w, { created: Number(job.createdUnixMs), finished: Number(job.finishedUnixMs) }, before, await firstImage, after),
      };
    } finally {
      await farm.stop();
    }
  } finally {
    await dir.remove();
  }
}
