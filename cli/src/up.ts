// `latentfarm up`: a coordinator and N workers in one process — the embedded
// default. With a prompt file (or one --prompt) it renders the job into a
// folder and exits; without, it serves until Ctrl-C.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { FarmClient } from '@latentfarm/client';
import { createLogger, createRegistry, formatHelp, omitOptions, opt, optionValues, parseOptions, Registry, type OptionValues } from '@latentfarm/common';
import { compileCoordinatorConfig, coordinatorOptions, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { JobState, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { defaultWorkerConfig, startWorker, workerOptions, type Worker } from '@latentfarm/worker';
import { collectEntries, jobOptions, specFromFlags, type JobFlags } from './job-options.js';
import { print, printErr } from './output.js';
import { doneLine } from './submit.js';
import { makeOutFolder, watchToFolder } from './watch-to-folder.js';

// up takes the coordinator's and the worker's own options (names, help, defaults, LATENTFARM_*
// variables), less those it decides itself: the models served (from --engine and --model-dir),
// auth (up runs as a local admin: no key to type) and what each local worker gets from the farm
// (its coordinator, id, key, heartbeat, logger, /metrics).
// Transport security is for a farm on a network (serve, worker): local workers dial the coordinator in this process.
const farmCoordinatorOptions = omitOptions(coordinatorOptions, ['models', 'noAuth', 'adminKeyFile', 'workerPort', 'tlsCert', 'tlsKey', 'tlsClientCa']);
const farmWorkerOptions = omitOptions(workerOptions, [
  'coordinator', 'id', 'apiKey', 'models', 'heartbeatMs', 'metricsHost', 'metricsPort', 'logLevel', 'deletionCostMs', 'kubeServiceAccountDir',
  'tls', 'tlsCa', 'tlsCert', 'tlsKey',
]);

const upOptions = {
  ...farmCoordinatorOptions,
  port: { ...coordinatorOptions.port, help: `${coordinatorOptions.port.help}; a render run (--prompts/--prompt) picks a free one unless set` },
  metricsPort: { ...coordinatorOptions.metricsPort, help: `${coordinatorOptions.metricsPort.help}; a render run has none unless set` },
  // A local farm is watched in a browser: the console is on (no log-in: the farm is its user's own), off for a render run.
  httpPort: { ...coordinatorOptions.httpPort, default: 7480, help: `${coordinatorOptions.httpPort.help}; a render run has none unless set` },
  dataDir: { ...coordinatorOptions.dataDir, help: `${coordinatorOptions.dataDir.help}; a render run uses a temp folder, removed at exit, unless set` },
  logLevel: { ...coordinatorOptions.logLevel, help: 'Log level of the farm', default: 'warn' as const },
  workers: opt.int('Local workers', 2, { min: 1, max: 256 }),
  ...farmWorkerOptions,
  prompts: opt.string('Prompt file to render, then exit (empty, and no --prompt: serve until Ctrl-C)', ''),
  out: opt.string('Folder for the rendered images', 'out'),
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
  const httpPort = render && !explicit.has('httpPort') ? -1 : v.httpPort;
  // The embedded store keeps jobs across restarts, but a render run's images end up in --out: unless told, its store
  // is a temp folder removed at exit, so a run never resumes an interrupted earlier one nor collides with a serve on ./data.
  const scratch = render && !explicit.has('dataDir') ? await mkdtemp(join(tmpdir(), 'latentfarm-up-')) : undefined;
  try {
    return await runFarm(v, { render, spec, entries, port, metricsPort, httpPort, served, dataDir: scratch ?? v.dataDir });
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}

interface FarmPlan {
  render: boolean;
  spec: JobSpec;
  entries: PromptEntry[];
  port: number;
  metricsPort: number;
  httpPort: number;
  served: string[];
  dataDir: string;
}

async function runFarm(v: OptionValues<typeof upOptions>, plan: FarmPlan): Promise<number> {
  const { render, spec, entries, port, metricsPort, httpPort, served, dataDir } = plan;
  // A one-person farm: every caller is the local admin, so nobody types a key (nor logs in to the console). It listens on loopback unless told otherwise.
  const coordinatorConfig = compileCoordinatorConfig({
    ...optionValues(farmCoordinatorOptions, v), port, metricsPort, httpPort, dataDir, models: served, noAuth: true, adminKeyFile: '',
    workerPort: -1, tlsCert: '', tlsKey: '', tlsClientCa: '',
  });
  if (!isLoopback(coordinatorConfig.host)) printErr(`latentfarm up: warning: --host ${coordinatorConfig.host} is reachable from elsewhere and up runs without API keys: anyone who reaches it is an admin; use latentfarm serve with keys for a shared farm`);
  const workerConfig = defaultWorkerConfig({ ...optionValues(farmWorkerOptions, v), models: served, metricsPort: -1 });

  const log = createLogger('latentfarm', v.logLevel);
  const registry = createRegistry('up');
  const coordinator = await startCoordinator(coordinatorConfig, { log, registry });
  const workers: Worker[] = [];
  const shutdown = async () => {
    await Promise.all(workers.map((w) => w.close()));
    await coordinator.close();
  };
  try {
    for (let i = 0; i < v.workers; i++) {
      const config = { ...workerConfig, coordinator: [coordinator.address], id: `local-${i}` };
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
  print(`farm up: coordinator ${coordinator.address}, ${v.workers} ${v.engine} workers${coordinator.metricsPort !== undefined ? `, metrics http://${v.metricsHost}:${coordinator.metricsPort}/metrics` : ''}`);
  if (coordinator.consoleUrl !== undefined) print(`console: ${coordinator.consoleUrl}`);
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

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
