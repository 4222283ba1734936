// `latentfarm worker`: the only place that creates the worker's logger and registry.
import type { Server } from 'node:http';
import {
  ConfigError, LatentfarmError, checkAddress, createLogger, createRegistry, listenConfigError, listenError, serveMetrics,
  type Logger, type Registry,
} from '@latentfarm/common';
import { parseWorkerConfig, simNativeDefaults, workerHelp, type WorkerConfig } from './config.js';
import type { Engine } from './engine/engine.js';
import { OnnxEngine } from './engine/onnx.js';
import { SimEngine } from './engine/sim.js';
import { DeletionCostKeeper, inClusterPod } from './kube-deletion-cost.js';
import { batchMetrics, workerMetrics, type WorkerMetrics } from './metrics.js';
import { workerTransport } from './tls.js';
import { Worker } from './worker.js';

export async function createEngine(config: WorkerConfig, metrics: WorkerMetrics): Promise<Engine> {
  const observer = batchMetrics(metrics, config.maxBatch);
  if (config.engine === 'sim') {
    return new SimEngine({
      models: config.models, maxBatch: config.maxBatch, stepBaseMs: config.simStepBaseMs,
      stepPerImageMs: config.simStepPerImageMs, failMarker: config.simFailMarker, native: simNativeDefaults(config),
    }, observer);
  }
  try {
    return await OnnxEngine.create({ modelDirs: config.modelDir, provider: config.provider, maxBatch: config.maxBatch, threads: config.threads, unetTimestep: config.unetTimestep }, observer);
  } catch (err) {
    // A model folder the loader refuses (its own error classes) is bad input: one line naming the flag.
    if (err instanceof ConfigError || !(err instanceof LatentfarmError)) throw err;
    throw new ConfigError(`--model-dir: ${err.message}`, { cause: err });
  }
}

/** Starts a worker from a compiled config (used by `worker` and by `up`). */
export async function startWorker(configured: WorkerConfig, deps: { log: Logger; registry: Registry }): Promise<Worker> {
  for (const a of configured.coordinator) checkAddress('--coordinator', a);
  const transport = await workerTransport(configured);
  const config = { ...configured, id: transport.id };
  const metrics = workerMetrics(deps.registry);
  const engine = await createEngine(config, metrics);
  const log = deps.log.child({ worker: config.id });
  if (engine instanceof OnnxEngine) {
    for (const m of engine.loaded) log.info({ model: m.model, dir: m.dir, format: m.format, unetTimestep: m.unetTimestep }, `model ${m.model}: ${m.formatDescription}; UNet: ${m.unetTimestepDetail}`);
  }
  const tls = configured.tls || configured.tlsCa !== '' || configured.tlsCert !== '';
  // A renewed certificate must still name this worker (its id is fixed for the process).
  const renew = tls ? async () => (await workerTransport({ ...configured, id: config.id })).credentials : undefined;
  return new Worker(config, engine, metrics, log, transport.credentials, renew);
}

export async function runWorker(argv: readonly string[]): Promise<void> {
  const { values: config, help, explicit } = parseWorkerConfig(argv);
  if (help) {
    process.stdout.write(workerHelp());
    return;
  }
  for (const a of config.coordinator) checkAddress('--coordinator', a);
  const log = createLogger('worker', config.logLevel);
  const registry = createRegistry('worker');
  // Readiness goes false the moment a drain starts, before any image is handed back.
  let draining = false;
  let metricsServer: Server | undefined;
  if (config.metricsPort >= 0) {
    // The default port gives way to a free one, so several workers share a host; a port the user chose does not.
    const m = await serveMetrics(registry, config.metricsHost, config.metricsPort, { orFreePort: !explicit.has('metricsPort'), ready: () => !draining }).catch((err: unknown) => {
      const le = listenError(err, config.metricsHost, config.metricsPort);
      throw le === undefined ? err : listenConfigError(le, { host: '--metrics-host', port: '--metrics-port', offHint: ', or -1 to turn /metrics off' });
    });
    if (m.movedFrom !== undefined) {
      log.info({ metricsPort: m.port }, `metrics port ${m.movedFrom} is in use (another worker on this host?), so /metrics listens on ${m.port}; set --metrics-port to choose`);
    } else {
      log.info({ metricsPort: m.port }, 'metrics listening');
    }
    m.server.unref();
    metricsServer = m.server;
  }
  const worker = await startWorker(config, { log, registry });
  const pod = config.deletionCostMs >= 0 ? await inClusterPod(process.env, config.kubeServiceAccountDir) : undefined;
  const cost = pod === undefined ? undefined : new DeletionCostKeeper(pod, () => worker.heldTasks, config.deletionCostMs, log);
  if (pod !== undefined) log.info({ pod: `${pod.namespace}/${pod.name}`, everyMs: config.deletionCostMs }, 'keeping pod-deletion-cost current');
  const drain = (signal: string) => {
    draining = true;
    log.info({ signal, held: worker.heldTasks }, 'draining');
    worker.drain().catch((err: unknown) => log.error({ err }, 'drain failed'));
  };
  process.once('SIGTERM', () => drain('SIGTERM'));
  process.once('SIGINT', () => drain('SIGINT'));
  await worker.wait();
  cost?.stop();
  // A scrape or probe connection kept alive would hold the process up to the server's keep-alive timeout, or
  // for good if requests keep coming: the drain is done, so exit now.
  metricsServer?.close();
  metricsServer?.closeAllConnections();
  log.info('worker stopped');
}
