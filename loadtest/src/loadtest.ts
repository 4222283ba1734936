// The farm load test: a coordinator process, sim workers in several worker-pool
// processes, and a load generator in this process. Writes a JSON report, a
// table and an SVG chart. Every loop here is bounded in count and time.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { opt, parseScriptOptions, type OptionValues } from '@latentfarm/common';
import { FarmClient } from '@latentfarm/client';
import { ImageFormat, Scheduler, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { eventually, repoRoot, spawnCoordinator, startNatsServer, tempDir, type CoordinatorProc, type NatsServer } from '@latentfarm/testkit';
import { cpuSeconds, memoryBytes } from './proc-stats.js';
import { histogramCount, histogramQuantile, scrape, since } from './prom-text.js';
import { renderChart } from './chart.js';
import { adminKeyFile, provisionKeys, type FarmKeys } from './keys-setup.js';

export const loadtestOptions = {
  name: opt.string('Name of the run (report file name)', 'loadtest'),
  mode: opt.oneOf('one-job: one large job; poisson: many jobs arriving at random; million: submit a huge job by stream; slow-watcher: a watcher that reads slowly', 'one-job', ['one-job', 'poisson', 'million', 'slow-watcher'] as const),
  workers: opt.int('Sim workers', 16, { min: 0 }),
  workerProcesses: opt.int('Processes the workers are spread over', 4, { min: 1 }),
  maxBatch: opt.int('Max batch per worker', 8, { min: 1 }),
  steps: opt.int('Steps per image', 25, { min: 1 }),
  stepBaseMs: opt.number('Sim step time: fixed ms per batched step', 20, { min: 0 }),
  stepPerImageMs: opt.number('Sim step time: ms per image in the batch', 0.5, { min: 0 }),
  size: opt.int('Image width and height', 64, { min: 8 }),
  images: opt.int('Images (one-job, million: prompts; slow-watcher)', 20_000, { min: 1 }),
  warmUp: opt.int('Images of a job run to the end before the measured part, unmeasured: the coordinator\'s code is then compiled, as in a farm that has been running (0: none)', 0, { min: 0 }),
  durationS: opt.number('poisson: seconds of arrivals', 30, { min: 1 }),
  jobRate: opt.number('poisson: jobs per second', 4, { min: 0.01 }),
  jobImagesMax: opt.int('poisson: largest job, in images (sizes are uniform 1..max)', 100, { min: 1 }),
  timeoutS: opt.number('Give up after this many seconds', 600, { min: 1 }),
  keys: opt.oneOf('API keys: off (serve --no-auth) or on (an admin key file; the load generator calls as a tenant, each worker with its own worker key)', 'off', ['off', 'on'] as const),
  store: opt.oneOf('Store of the coordinator: embedded (in its process) or jetstream (starts its own nats-server and passes --nats-url)', 'embedded', ['embedded', 'jetstream'] as const),
  out: opt.string('Folder for reports', 'loadtest/results'),
};

export type LoadtestConfig = OptionValues<typeof loadtestOptions>;

interface Sample { t: number; completed: number; queued: number; cpu: number; rssMb: number }

export interface Report {
  name: string;
  mode: string;
  config: LoadtestConfig;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  steadyImagesPerSecond: number;
  /** Leases handed to workers per second (re-leases included), over the same span as imagesPerSecond. */
  leasesPerSecond: number;
  idealImagesPerSecond: number;
  efficiency: number;
  latencySeconds: { p50: number; p95: number; p99: number };
  queueWaitSeconds: { p50: number; p95: number; p99: number };
  submitSeconds: number;
  coordinator: { cpuCores: number; cpuSeconds: number; peakRssMb: number };
  /**
   * CPU milliseconds per image committed, by process, over the run: on a small machine every process of the farm
   * competes for the same cores, so this says what a faster store or worker would buy.
   */
  cpuMsPerImage: { coordinator: number; natsServer: number; workers: number; loadGenerator: number };
  samples: Sample[];
  notes: string[];
}

const quantile = (sorted: number[], q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);

function jobSpec(c: LoadtestConfig, over: Partial<JobSpec> = {}): JobSpec {
  return {
    model: 'sim', priority: 5, labels: { loadtest: c.name }, idempotencyKey: '',
    params: { width: c.size, height: c.size, steps: c.steps, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, seed: 1 },
    ...over,
  };
}

function* entries(n: number): Generator<PromptEntry> {
  for (let i = 0; i < n; i++) yield { prompt: `load test prompt ${i}`, negativePrompt: '', images: 1 };
}

export async function runLoadtest(c: LoadtestConfig, progress: (line: string) => void): Promise<Report> {
  const dir = await tempDir();
  const nats: NatsServer | undefined = c.store === 'jetstream' ? await startNatsServer() : undefined;
  // Ports the kernel picks, read back from the coordinator's startup line.
  const keys: FarmKeys | undefined = c.keys === 'on' ? await adminKeyFile(dir.path) : undefined;
  const coordinator: CoordinatorProc = await spawnCoordinator(['--data-dir', dir.path, '--max-images-per-job', '2000000', '--lease-ttl-ms', '20000',
    ...(nats !== undefined ? ['--nats-url', nats.url] : []), ...(keys?.coordinatorArgs ?? [])], { metrics: true }).catch(async (err: unknown) => {
    await nats?.stop();
    await dir.remove();
    throw err;
  });
  const { address } = coordinator;
  const metricsPort = coordinator.metricsPort as number;
  // Off: no key at all (not even LATENTFARM_API_KEY from the environment). On: the jobs are a tenant's; the farm's
  // status (workers, the sampler's queue depth) is read with the admin key, the same few calls in both modes.
  const admin = new FarmClient(address, { apiKey: keys?.adminKey ?? '' });
  let client = admin;
  const pools: ChildProcess[] = [];
  const notes: string[] = [];
  const samples: Sample[] = [];
  let completed = 0;
  let sampler: NodeJS.Timeout | undefined;
  try {
    await eventually(() => admin.getFarmStatus().then(() => true, () => false), 30_000, 'coordinator to start');
    const pid = coordinator.child.pid as number;
    const poolSizes = Array.from({ length: Math.min(c.workerProcesses, c.workers) },
      (_, p) => Math.floor(c.workers / c.workerProcesses) + (p < c.workers % c.workerProcesses ? 1 : 0));
    let workerKeysFile = '';
    if (keys !== undefined) {
      const ids = poolSizes.flatMap((n, p) => Array.from({ length: n }, (_, i) => `pool${p}-${i}`));
      const made = await provisionKeys(address, keys.adminKey, ids, dir.path);
      client = new FarmClient(address, { apiKey: made.tenantKey });
      workerKeysFile = made.workerKeysFile;
    }
    for (const [p, n] of poolSizes.entries()) {
      if (n === 0) continue;
      pools.push(spawn(process.execPath, [join(repoRoot, 'loadtest/dist/src/worker-pool.js'), address, String(n), String(c.maxBatch),
        String(c.stepBaseMs), String(c.stepPerImageMs), `pool${p}`, workerKeysFile], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] }));
    }
    await eventually(async () => (await admin.getFarmStatus()).workers.length >= c.workers, 60_000, `${c.workers} workers`);
    progress(`farm up: coordinator ${address} (${c.store} store${nats !== undefined ? `, ${nats.url}` : ''}, keys ${c.keys}), ${c.workers} workers in ${pools.length} processes`);

    if (c.warmUp > 0) {
      const { job } = await client.submitJobStream(jobSpec(c, { labels: { loadtest: 'warm-up' } }), entries(c.warmUp), 5000);
      for await (const ev of client.watch(job!.id, { referencesOnly: true, noProgress: true })) void ev;
      progress(`warm-up: a ${c.warmUp}-image job ran to the end (not measured)`);
    }

    // Lease counts and queue waits of the measured part only (a warm-up's are already in the histograms).
    const metrics0 = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
    const t0 = Date.now();
    const cpu0 = await cpuSeconds(pid);
    const others = async () => {
      const own = process.cpuUsage();
      return {
        natsServer: nats !== undefined ? await cpuSeconds(nats.pid()) : 0,
        workers: (await Promise.all(pools.map((p) => cpuSeconds(p.pid as number)))).reduce((a, b) => a + b, 0),
        loadGenerator: (own.user + own.system) / 1e6,
      };
    };
    const others0 = await others();
    sampler = setInterval(() => {
      Promise.all([cpuSeconds(pid), memoryBytes(pid), admin.getFarmStatus()]).then(([cpu, mem, st]) => {
        const last = samples.at(-1);
        const t = (Date.now() - t0) / 1000;
        const s = { t, completed, queued: st.queuedImages, cpu: cpu - cpu0, rssMb: mem.rss / 2 ** 20 };
        samples.push(s);
        const rate = last ? (completed - last.completed) / (t - last.t) : 0;
        progress(`t=${t.toFixed(0)}s  done ${completed}  ${rate.toFixed(0)} img/s  queued ${st.queuedImages}  coordinator cpu ${(cpu - cpu0).toFixed(1)}s rss ${s.rssMb.toFixed(0)} MB`);
      }, () => undefined);
    }, 1000);

    const latencies: number[] = [];
    const doneTimes: number[] = [];
    let submitSeconds = 0;
    const watchJob = async (id: string, createdMs: number, slow = false) => {
      for await (const ev of client.watch(id, { referencesOnly: !slow, noProgress: true })) {
        if (ev.type !== 'image') continue;
        completed++;
        latencies.push((ev.unixMs - createdMs) / 1000);
        doneTimes.push(ev.unixMs);
        if (slow) await new Promise((r) => setTimeout(r, 20));
      }
    };
    const deadline = setTimeout(() => { notes.push(`timed out after ${c.timeoutS}s`); client.close(); admin.close(); }, c.timeoutS * 1000);

    if (c.mode === 'one-job' || c.mode === 'slow-watcher') {
      const s0 = performance.now();
      const { job } = await client.submitJobStream(jobSpec(c), entries(c.images), 5000);
      submitSeconds = (performance.now() - s0) / 1000;
      await watchJob(job!.id, job!.createdUnixMs, c.mode === 'slow-watcher');
    } else if (c.mode === 'million') {
      const s0 = performance.now();
      const { job } = await client.submitJobStream(jobSpec(c), entries(c.images), 5000);
      submitSeconds = (performance.now() - s0) / 1000;
      progress(`submitted ${c.images} prompts by stream in ${submitSeconds.toFixed(1)} s: job ${job!.id} holds ${job!.images?.total ?? 0} images`);
      if (c.workers > 0) await new Promise((r) => setTimeout(r, 5000));
      await client.cancelJob(job!.id);
    } else {
      const watches: Promise<void>[] = [];
      const end = Date.now() + c.durationS * 1000;
      while (Date.now() < end) {
        const n = 1 + Math.floor(Math.random() * c.jobImagesMax);
        const sizes = [c.size, c.size * 2];
        const size = sizes[Math.floor(Math.random() * sizes.length)] as number;
        const spec = jobSpec(c, { priority: 1 + Math.floor(Math.random() * 10) });
        spec.params = { ...spec.params!, width: size, height: size };
        const { job } = await client.submitJob(spec, [{ prompt: 'poisson', negativePrompt: '', images: n }]);
        watches.push(watchJob(job!.id, job!.createdUnixMs));
        await new Promise((r) => setTimeout(r, (-Math.log(1 - Math.random()) / c.jobRate) * 1000));
      }
      await Promise.all(watches);
    }
    clearTimeout(deadline);
    clearInterval(sampler);
    const seconds = (Date.now() - t0) / 1000;
    const cpu = (await cpuSeconds(pid)) - cpu0;
    const others1 = await others();
    const perImage = (s: number) => (completed > 0 ? (s * 1000) / completed : 0);
    const mem = await memoryBytes(pid);
    const metrics = since(await scrape(`http://127.0.0.1:${metricsPort}/metrics`), metrics0);
    latencies.sort((a, b) => a - b);
    doneTimes.sort((a, b) => a - b);
    // Steady state: between the 10th and 90th percentile completion, free of ramp-up and tail.
    const lo = doneTimes[Math.floor(doneTimes.length * 0.1)] ?? 0;
    const hi = doneTimes[Math.floor(doneTimes.length * 0.9)] ?? 0;
    const steady = hi > lo ? (Math.floor(doneTimes.length * 0.9) - Math.floor(doneTimes.length * 0.1)) / ((hi - lo) / 1000) : 0;
    const stepSeconds = (c.stepBaseMs + c.stepPerImageMs * c.maxBatch) / 1000;
    const ideal = c.workers * c.maxBatch / (c.steps * stepSeconds);
    const busySeconds = (doneTimes.at(-1) ?? t0) / 1000 - t0 / 1000;
    return {
      name: c.name, mode: c.mode, config: c, images: completed, seconds,
      imagesPerSecond: busySeconds > 0 ? completed / busySeconds : 0,
      steadyImagesPerSecond: steady,
      leasesPerSecond: busySeconds > 0 ? histogramCount(metrics, 'latentfarm_queue_wait_seconds') / busySeconds : 0,
      idealImagesPerSecond: ideal,
      efficiency: c.mode === 'one-job' && ideal > 0 ? steady / ideal : 0,
      latencySeconds: { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99) },
      queueWaitSeconds: {
        p50: histogramQuantile(metrics, 'latentfarm_queue_wait_seconds', 0.5),
        p95: histogramQuantile(metrics, 'latentfarm_queue_wait_seconds', 0.95),
        p99: histogramQuantile(metrics, 'latentfarm_queue_wait_seconds', 0.99),
      },
      submitSeconds,
      coordinator: { cpuCores: cpu / seconds, cpuSeconds: cpu, peakRssMb: mem.peak / 2 ** 20 },
      cpuMsPerImage: {
        coordinator: perImage(cpu),
        natsServer: perImage(others1.natsServer - others0.natsServer),
        workers: perImage(others1.workers - others0.workers),
        loadGenerator: perImage(others1.loadGenerator - others0.loadGenerator),
      },
      samples, notes,
    };
  } finally {
    clearInterval(sampler);
    client.close();
    admin.close();
    for (const p of pools) p.kill('SIGKILL');
    coordinator.kill('SIGKILL');
    await coordinator.exited();
    await nats?.stop();
    await dir.remove();
  }
}

export function formatReport(r: Report): string {
  const rows: [string, string][] = [
    ['store', r.config.store],
    ['API keys', r.config.keys],
    ['mode', `${r.mode} (${r.config.workers} sim workers × batch ${r.config.maxBatch}, ${r.config.steps} steps, step ${r.config.stepBaseMs} + ${r.config.stepPerImageMs}×batch ms, ${r.config.size}px)`],
    ['images', String(r.images)],
    ['warm-up', r.config.warmUp > 0 ? `a ${r.config.warmUp}-image job first, not measured` : 'none (a cold coordinator)'],
    ['images/s (whole run)', r.imagesPerSecond.toFixed(1)],
    ['images/s (steady state)', r.steadyImagesPerSecond.toFixed(1)],
    ['leases/s (dispatch)', r.leasesPerSecond.toFixed(1)],
    ['ideal capacity images/s', r.idealImagesPerSecond.toFixed(1)],
    ['farm efficiency', r.efficiency > 0 ? `${(r.efficiency * 100).toFixed(1)} %` : 'n/a'],
    ['latency p50 / p95 / p99 s', `${r.latencySeconds.p50.toFixed(2)} / ${r.latencySeconds.p95.toFixed(2)} / ${r.latencySeconds.p99.toFixed(2)}`],
    ['queue wait p50 / p95 / p99 s', `${r.queueWaitSeconds.p50.toFixed(2)} / ${r.queueWaitSeconds.p95.toFixed(2)} / ${r.queueWaitSeconds.p99.toFixed(2)}`],
    ['submit seconds', r.submitSeconds.toFixed(2)],
    ['coordinator CPU', `${(r.coordinator.cpuCores * 100).toFixed(0)} % of one core (${r.coordinator.cpuSeconds.toFixed(1)} s)`],
    ['coordinator peak RSS', `${r.coordinator.peakRssMb.toFixed(0)} MB`],
    ['CPU ms per image', cpuPerImage(r.cpuMsPerImage)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n') + (r.notes.length > 0 ? `\nnotes: ${r.notes.join('; ')}` : '');
}

function cpuPerImage(c: Report['cpuMsPerImage']): string {
  const total = c.coordinator + c.natsServer + c.workers + c.loadGenerator;
  const f = (x: number) => x.toFixed(2);
  return `${f(total)} = coordinator ${f(c.coordinator)} + nats-server ${f(c.natsServer)} + workers ${f(c.workers)} + load generator ${f(c.loadGenerator)}`;
}

export async function writeReport(r: Report): Promise<string[]> {
  await mkdir(r.config.out, { recursive: true });
  const base = join(r.config.out, r.name);
  await writeFile(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(`${base}.txt`, `${formatReport(r)}\n`);
  await writeFile(`${base}.svg`, renderChart(r.name, r.samples));
  return [`${base}.json`, `${base}.txt`, `${base}.svg`];
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseScriptOptions(loadtestOptions, argv, 'Usage: npm run loadtest -- [options]');
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const report = await runLoadtest(values, log);
  const files = await writeReport(report);
  process.stdout.write(`${formatReport(report)}\nreport: ${files.join(', ')}\n`);
  return 0;
}

