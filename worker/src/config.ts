import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ConfigError, formatHelp, opt, parseOptions, type OptionValues } from '@latentfarm/common';
import { SCHEDULER_KINDS } from './schedulers/config.js';
import { UNET_TIMESTEP_MODES } from './pipeline/unet-session.js';

export const workerOptions = {
  coordinator: opt.list('Coordinator addresses (host:port, comma separated); reconnects rotate through them', ['127.0.0.1:7400']),
  id: opt.string('Worker id (default: hostname and a random suffix); with --api-key, the worker id the key is bound to; with a client certificate, its common name (CN)', ''),
  apiKey: opt.string('Worker API key (latentfarm key create --role worker --worker-id ID), sent as authorization: Bearer; not needed by a farm run with --no-auth', ''),
  tls: opt.bool('Dial the coordinator over TLS, verified against the system\'s CAs (implied by --tls-ca and --tls-cert)', false),
  tlsCa: opt.string('TLS: CA bundle (PEM) that issued the coordinator\'s certificate', ''),
  tlsCert: opt.string('mTLS: this worker\'s client certificate (PEM); its common name must be the worker id', ''),
  tlsKey: opt.string('mTLS: private key (PEM) of --tls-cert', ''),
  engine: opt.oneOf('Engine: sim (no model, GPU-like timing) or onnx', 'sim', ['sim', 'onnx'] as const),
  models: opt.list('Models served (sim engine); the onnx engine serves its model folders', ['sim']),
  modelDir: opt.list('onnx: model folders (Optimum ONNX Stable Diffusion layout); each serves the model named after its folder', ['models/shapes-ldm']),
  provider: opt.oneOf('onnx: execution provider', 'cpu', ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const),
  threads: opt.int('onnx: onnxruntime intra-op threads (0: onnxruntime decides)', 0, { min: 0, max: 256 }),
  unetTimestep: opt.oneOf('onnx: a UNet that takes one scalar timestep (Optimum ≥ 1.24): adapt (edit the graph in memory so each image in a batch has its own timestep) or group (one UNet call per distinct timestep)', 'adapt', UNET_TIMESTEP_MODES),
  maxBatch: opt.int('Most images in one batched step', 8, { min: 1, max: 1024 }),
  prefetch: opt.int('Tasks leased ahead beyond max-batch, so the device never waits', -1, { min: -1, max: 4096 }),
  simStepBaseMs: opt.number('sim: fixed milliseconds of one batched step', 20, { min: 0 }),
  simStepPerImageMs: opt.number('sim: milliseconds per image of one batched step', 0.5, { min: 0 }),
  simFailMarker: opt.string('sim: prompts containing this fail (for tests)', ''),
  simNativeSize: opt.string('sim: native size its models announce, WxH (e.g. 64x64), so jobs that set no size get it (empty: announce none)', ''),
  simScheduler: opt.oneOf('sim: default scheduler its models announce with --sim-native-size', 'ddim', SCHEDULER_KINDS),
  heartbeatMs: opt.int('Heartbeat interval before the coordinator says otherwise', 3000, { min: 50 }),
  progressMs: opt.int('Least interval between step-progress reports', 250, { min: 10 }),
  reconnectBaseMs: opt.int('First reconnect delay (doubles up to reconnect-max-ms)', 250, { min: 1 }),
  reconnectMaxMs: opt.int('Longest reconnect delay', 10_000, { min: 1 }),
  drainTimeoutMs: opt.int('On SIGTERM, how long running images may finish before they are handed back', 30_000, { min: 0 }),
  deletionCostMs: opt.int('In Kubernetes: least milliseconds between updates of this pod\'s controller.kubernetes.io/pod-deletion-cost (the images in hand, so scale-in removes idle workers first); -1 turns it off. Needs POD_NAME and a service account that may patch pods; skipped outside a cluster', 2000, { min: -1 }),
  kubeServiceAccountDir: opt.string('In Kubernetes: the mounted service account (token, ca.crt, namespace)', '/var/run/secrets/kubernetes.io/serviceaccount'),
  metricsHost: opt.string('Address of the /metrics HTTP server', '127.0.0.1'),
  metricsPort: opt.int('Port of the /metrics HTTP server (0 picks a free one, -1 disables)', 9401, { min: -1, max: 65535 }),
  logLevel: opt.oneOf('Log level', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const),
};

export type WorkerConfig = OptionValues<typeof workerOptions>;

export function parseWorkerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  const parsed = parseOptions(workerOptions, argv, env);
  return { ...parsed, values: compileWorkerConfig(parsed.values) };
}

/** Fills derived defaults, so every module sees one complete config; throws ConfigError for a bad value. */
export function compileWorkerConfig(c: WorkerConfig): WorkerConfig {
  simNativeDefaults(c);
  if ((c.tlsCert === '') !== (c.tlsKey === '')) throw new ConfigError(c.tlsCert === '' ? '--tls-key: needs --tls-cert' : '--tls-cert: needs --tls-key');
  return {
    ...c,
    // With a client certificate the id is left empty here: startWorker takes it from the certificate (worker/src/tls.ts).
    id: c.id !== '' || c.tlsCert !== '' ? c.id : `${hostname()}-${randomBytes(3).toString('hex')}`,
    prefetch: c.prefetch >= 0 ? c.prefetch : c.maxBatch,
  };
}

export function defaultWorkerConfig(overrides: Partial<WorkerConfig> = {}): WorkerConfig {
  return compileWorkerConfig({ ...parseOptions(workerOptions, [], {}).values, ...overrides });
}

export const workerHelp = (): string =>
  formatHelp('Usage: latentfarm worker [options]\n\nRuns a worker: dials the coordinator, leases images, renders them in continuous batches.', workerOptions);

/** What the sim engine announces for each of its models: `--sim-native-size` and `--sim-scheduler`, or nothing. */
export function simNativeDefaults(c: WorkerConfig): { width: number; height: number; scheduler: string } | undefined {
  if (c.simNativeSize === '') return undefined;
  const m = /^(\d+)x(\d+)$/.exec(c.simNativeSize);
  const [width, height] = [Number(m?.[1]), Number(m?.[2])];
  if (m === null || !(width > 0 && height > 0 && width % 8 === 0 && height % 8 === 0)) {
    throw new ConfigError(`--sim-native-size: "${c.simNativeSize.slice(0, 32)}" is not WxH with both multiples of 8 (e.g. 64x64)`);
  }
  return { width, height, scheduler: c.simScheduler };
}
