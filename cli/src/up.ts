// `latentfarm up`: a coordinator and N workers in one process — the embedded
// default. With a prompt file (or one --prompt) it renders the job into a
// folder and exits; without, it serves until Ctrl-C.
import { basename, resolve } from 'node:path';
import { FarmClient } from '@latentfarm/client';
import { createLogger, createRegistry, formatHelp, opt, parseOptions, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { JobState, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { defaultWorkerConfig, startWorker, type Worker } from '@latentfarm/worker';
import { collectEntries, jobOptions, specFromFlags, type JobFlags } from './job-options.js';
import { print } from './output.js';
import { doneLine } from './submit.js';
import { makeOutFolder, watchToFolder } from './watch-to-folder.js';

const upOptions = {
  host: opt.string('Address the coordinator listens on', '127.0.0.1'),
  port: opt.int('Coordinator gRPC port (0 picks a free one); a render run (--prompts/--prompt) picks a free one unless set', 7400, { min: 0, max: 65535 }),
  metricsPort: opt.int('Coordinator /metrics port (0 picks a free one, -1 disables); a render run has none unless set', 9400, { min: -1, max: 65535 }),
  dataDir: opt.string('Directory of the embedded store', 'data'),
  workers: opt.int('Local workers', 2, { min: 1, max: 256 }),
  engine: opt.oneOf('Worker engine: onnx (the real pipeline) or sim (no model)', 'sim', ['sim', 'onnx'] as const),
  modelDir: opt.list('onnx: model folders; each serves the model named after its folder', ['models/shapes-ldm']),
  provider: opt.oneOf('onnx: execution provider', 'cpu', ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const),
  threads: opt.int('onnx: onnxruntime threads per worker (0: onnxruntime decides)', 0, { min: 0 }),
  maxBatch: opt.int('Most images in one batched step, per worker', 8, { min: 1 }),
  simStepBaseMs: opt.number('sim: fixed milliseconds of one batched step', 20, { min: 0 }),
  simStepPerImageMs: opt.number('sim: milliseconds per image of one batched step', 0.5, { min: 0 }),
  prompts: opt.string('Prompt file to render, then exit (empty, and no --prompt: serve until Ctrl-C)', ''),
  out: opt.string('Folder for the rendered images', 'out'),
  logLevel: opt.oneOf('Log level of the farm', 'warn', ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const),
  ...jobOptions,
  prompt: opt.string('One prompt to render, then exit (like a one-line --prompts file)', ''),
};

export async function runUp(argv: readonly string[]): Promise<number> {
  const { values: v, help, explicit } = parseOptions(upOptions, argv);
  if (help) {
    process.stdout.write(formatHelp('Usage: latentfarm up [options]\n\nStarts a coordinator and local workers in one process (embedded store).\n' +
      'With --prompts FILE or --prompt TEXT it renders them into --out and exits; otherwise it serves until Ctrl-C.', upOptions));
    return 0;
  }
  const render = v.prompts !== '' || v.prompt !== '';
  // With the onnx engine the job's model defaults to the first model folder.
  const served = v.engine === 'onnx' ? v.modelDir.map((d) => basename(resolve(d))) : [v.model || 'sim'];
  if (v.model === '') v.model = served[0] ?? v.model;
  // Everything the user named is checked before anything starts, so bad input leaves nothing running.
  const flags = v as unknown as JobFlags;
  const spec = specFromFlags(flags);
  const entries = render ? await collectEntries(v.prompts === '' ? undefined : v.prompts, flags) : [];
  if (render) await makeOutFolder(v.out);
  // A render run serves nobody else: unless told, it takes a free port and no /metrics, so it never collides with a farm on this host.
  const port = render && !explicit.has('port') ? 0 : v.port;
  const metricsPort = render && !explicit.has('metricsPort') ? -1 : v.metricsPort;

  const log = createLogger('latentfarm', v.logLevel);
  const registry = createRegistry('up');
  const coordinator = await startCoordinator(
    defaultCoordinatorConfig({ host: v.host, port, metricsPort, dataDir: v.dataDir, models: served, logLevel: v.logLevel }),
    { log, registry },
  );
  const workers: Worker[] = [];
  const shutdown = async () => {
    await Promise.all(workers.map((w) => w.close()));
    await coordinator.close();
  };
  try {
    for (let i = 0; i < v.workers; i++) {
      const config = defaultWorkerConfig({
        coordinator: [coordinator.address], id: `local-${i}`, engine: v.engine, models: served, maxBatch: v.maxBatch,
        modelDir: v.modelDir, provider: v.provider, threads: v.threads,
        simStepBaseMs: v.simStepBaseMs, simStepPerImageMs: v.simStepPerImageMs, metricsPort: -1,
      });
      // One /metrics per process: the first worker's metrics are served with the coordinator's;
      // the others record into registries nobody scrapes (no second set of process metrics).
      workers.push(await startWorker(config, { log, registry: i === 0 ? registry : new Registry() }));
    }
    // A job submitted before the workers' hellos would miss their models' native sizes.
    await Promise.all(workers.map((w) => w.connected()));
  } catch (err) {
    // A worker that cannot start (bad model folder, missing provider) ends the whole farm: nothing is left running.
    await shutdown();
    throw err;
  }
  print(`farm up: coordinator ${coordinator.address}, ${v.workers} ${v.engine} workers${coordinator.metricsPort !== undefined ? `, metrics http://${v.host}:${coordinator.metricsPort}/metrics` : ''}`);
  if (!render) {
    await new Promise<void>((done) => {
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
    });
    await shutdown();
    return 0;
  }
  try {
    return await renderAndReport(coordinator, spec, entries, v.model, v.out);
  } finally {
    await shutdown();
  }
}

async function renderAndReport(coordinator: Coordinator, spec: JobSpec, entries: PromptEntry[], model: string, out: string): Promise<number> {
  const client = new FarmClient(coordinator.address);
  try {
    const res = await client.submitJobStream(spec, entries);
    const job = res.job;
    if (job === undefined) throw new Error('submit returned no job');
    print(`job ${job.id}: ${job.images?.total ?? 0} images of "${model}"`);
    const s = await watchToFolder(client, job.id, out);
    print(`${JobState[s.job.state]}: ${s.written} images written to ${out}/ (${doneLine(s.job)})`);
    return s.job.state === JobState.SUCCEEDED ? 0 : 1;
  } finally {
    client.close();
  }
}
