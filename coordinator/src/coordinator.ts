// Starts a coordinator from a compiled config: store, farm, gRPC, /metrics.
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { ConfigError, listenConfigError, listenError, serveMetrics, type Logger, type Registry } from '@latentfarm/common';
import { IdentityAdmin } from './auth/admin.js';
import { Authenticator } from './auth/authenticator.js';
import { bootstrapAdmin } from './auth/bootstrap.js';
import { tenantDefaults, type CoordinatorConfig } from './config.js';
import { Farm } from './farm/farm.js';
import { startGrpcServer, WorkerPortError, type GrpcServer } from './grpc/server.js';
import { portCredentials } from './grpc/tls.js';
import { startHttpServer, type HttpServer } from './http/server.js';
import { coordinatorMetrics } from './metrics.js';
import { TenantDirectory } from './quota/tenant-directory.js';
import { TenantShare } from './scheduling/tenant-share.js';
import { EmbeddedStore } from './store/embedded.js';
import { JetStreamStore } from './store/jetstream.js';
import type { IdentityStore } from './store/identity.js';
import type { Ledger } from './ledger/ledger.js';
import { EmbeddedLedger } from './ledger/ledger-embedded.js';
import { JetStreamLedger } from './ledger/ledger-jetstream.js';
import { EmbeddedIdentityStore } from './store/identity-embedded.js';
import { JetStreamIdentityStore } from './store/identity-jetstream.js';
import type { Store } from './store/store.js';

export interface Coordinator {
  readonly port: number;
  readonly metricsPort: number | undefined;
  readonly address: string;
  /** Where workers connect: `address`, or the worker port's address (--worker-port). */
  readonly workerAddress: string;
  /** The web console's port; undefined when it is off. */
  readonly httpPort: number | undefined;
  /** The web console's address to open in a browser; undefined when it is off. */
  readonly consoleUrl: string | undefined;
  /** An admin key made at this start because the farm had none: shown once (serve prints it), stored only hashed. */
  readonly firstAdminKey: string | undefined;
  close(): Promise<void>;
}

/**
 * Starts every part or none: when a later part cannot start (a port in use),
 * the parts already started are stopped before the error is thrown, so a
 * failed start leaves nothing running that would keep the process alive.
 */
export interface CoordinatorDeps {
  log: Logger;
  registry: Registry;
}

export async function startCoordinator(config: CoordinatorConfig, deps: CoordinatorDeps): Promise<Coordinator> {
  const { log, registry } = deps;
  const undo: (() => Promise<void> | void)[] = [];
  const unwind = async () => {
    for (const u of undo.reverse()) await Promise.resolve().then(u).catch(() => undefined);
  };
  try {
    // Certificates first: a wrong --tls-* file fails the start before any store is opened.
    const creds = await portCredentials(config);
    if (config.natsUrl === '') await checkDataDir(config.dataDir);
    // JetStream when a NATS URL is set (durable, shared by several coordinators), else in this process.
    const embedded = config.natsUrl === '' ? openEmbedded(config.dataDir, log) : undefined;
    const store: Store = embedded ?? await JetStreamStore.connect({
      url: config.natsUrl, prefix: config.natsPrefix, replicas: config.natsReplicas, leaseTtlMs: config.leaseTtlMs,
      timeoutMs: config.natsTimeoutMs, log: log.child({ part: 'store' }),
    });
    undo.push(() => store.close());
    // Tenants and keys: tables of the embedded database, or a KV bucket beside the JetStream job store.
    const identity: IdentityStore = embedded !== undefined
      ? new EmbeddedIdentityStore(embedded.database)
      : await JetStreamIdentityStore.connect({
        url: config.natsUrl, prefix: config.natsPrefix, replicas: config.natsReplicas, timeoutMs: config.natsTimeoutMs, log: log.child({ part: 'identity' }),
      });
    undo.push(() => identity.close());
    // Credits: tables of the embedded database, or a stream of per-tenant accounts beside the JetStream job store.
    const ledger: Ledger = embedded !== undefined
      ? new EmbeddedLedger(embedded.database)
      : await JetStreamLedger.connect({
        url: config.natsUrl, prefix: config.natsPrefix, replicas: config.natsReplicas, timeoutMs: config.natsTimeoutMs, log: log.child({ part: 'ledger' }),
      });
    undo.push(() => ledger.close());
    const audit = log.child({ part: 'audit' });
    const firstAdminKey = config.noAuth ? undefined : await bootstrapAdmin(identity, config.adminKeyFile, audit);
    const authenticator = config.noAuth ? undefined : new Authenticator(identity, audit);
    // Each tenant's weight and quotas, read from the identity store: fair share across tenants first, then a tenant's jobs.
    const tenants = new TenantDirectory({ lookup: (id) => identity.getTenant(id), defaults: tenantDefaults(config), ttlMs: config.tenantRefreshMs });
    // The store is the farm's alone: gRPC gets the farm; only health is read here, for the health service.
    const farm = new Farm(config, store, coordinatorMetrics(registry, { maxTenantLabels: config.maxTenantLabels }), log.child({ part: 'farm' }), new TenantShare((t) => tenants.weightOf(t)), {
      ledger, tenantExists: async (id) => (await identity.getTenant(id)) !== undefined,
    }, tenants);
    undo.push(() => farm.close());
    await farm.start();
    let grpc: GrpcServer;
    try {
      grpc = await startGrpcServer(farm, { authenticator, admin: new IdentityAdmin(identity, audit, (t) => tenants.changed(t)) }, log, {
        clients: { host: config.host, port: config.port, credentials: creds.clients },
        workers: config.workerPort < 0 ? undefined : { host: config.host, port: config.workerPort, credentials: creds.workers },
        mtls: creds.mtls,
      }, { maxMessageBytes: config.maxMessageBytes });
    } catch (err) {
      const onWorkerPort = err instanceof WorkerPortError;
      const cause = onWorkerPort ? err.cause : err;
      const le = listenError(cause, config.host, onWorkerPort ? config.workerPort : config.port);
      throw le === undefined ? cause : listenConfigError(le, { host: '--host', port: onWorkerPort ? '--worker-port' : '--port' });
    }
    undo.push(() => { grpc.server.forceShutdown(); grpc.workers?.server.forceShutdown(); });
    let storeHealthy = true;
    store.onHealthChange((ok) => {
      storeHealthy = ok;
      for (const svc of ['', 'latentfarm.v1.RenderFarm', 'latentfarm.v1.WorkerGateway']) grpc.health.setStatus(svc, ok ? 'SERVING' : 'NOT_SERVING');
      log.warn({ healthy: ok }, ok ? 'store reachable again' : 'store unreachable: refusing new jobs');
    });
    // /readyz says what gRPC health says: a TLS gRPC port cannot be probed by the kubelet, whose gRPC probe speaks plaintext.
    const metrics = config.metricsPort >= 0 ? await serveMetricsOrExplain(registry, config, () => storeHealthy) : undefined;
    if (metrics !== undefined) undo.push(() => { metrics.server.close(); });
    const http = config.httpPort >= 0 ? await serveConsole(farm, config, deps.log, authenticator, identity) : undefined;
    if (http !== undefined) undo.push(() => http.close());
    const consoleUrl = http === undefined ? undefined : `http://${urlHost(config.httpHost)}:${http.port}/`;
    const workerAddress = grpc.workers === undefined ? `${config.host}:${grpc.port}` : `${config.host}:${grpc.workers.port}`;
    log.info({
      port: grpc.port, workerPort: grpc.workers?.port, tls: config.tlsCert !== '', mtls: creds.mtls, metricsPort: metrics?.port, console: consoleUrl,
      store: store.kind, auth: !config.noAuth, dataDir: store.kind === 'embedded' ? config.dataDir : undefined,
    }, 'coordinator listening');
    return {
      port: grpc.port,
      metricsPort: metrics?.port,
      address: `${config.host}:${grpc.port}`,
      workerAddress,
      httpPort: http?.port,
      consoleUrl,
      firstAdminKey,
      async close() {
        grpc.health.setStatus('', 'NOT_SERVING');
        await http?.close();
        farm.close();
        await new Promise<void>((resolve) => {
          // Give streams a moment to end cleanly, then force.
          const servers = [grpc.server, ...(grpc.workers === undefined ? [] : [grpc.workers.server])];
          const t = setTimeout(() => { for (const s of servers) s.forceShutdown(); resolve(); }, 2000);
          let left = servers.length;
          for (const s of servers) s.tryShutdown(() => { if (--left === 0) { clearTimeout(t); resolve(); } });
        });
        metrics?.server.close();
        await identity.close();
        await ledger.close();
        await store.close();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function serveMetricsOrExplain(registry: Registry, config: CoordinatorConfig, ready: () => boolean) {
  try {
    return await serveMetrics(registry, config.metricsHost, config.metricsPort, { ready });
  } catch (err) {
    const le = listenError(err, config.metricsHost, config.metricsPort);
    throw le === undefined ? err : listenConfigError(le, { host: '--metrics-host', port: '--metrics-port', offHint: ', or -1 to turn /metrics off' });
  }
}

/** The console logs in with the same API keys as gRPC, checked by the same authenticator, and keeps sessions beside them; none with --no-auth (`up`). */
async function serveConsole(farm: Farm, config: CoordinatorConfig, log: Logger, authenticator: Authenticator | undefined, identity: IdentityStore): Promise<HttpServer> {
  const context = { method: 'console', peer: 'http' };
  const auth = authenticator === undefined ? undefined : {
    keys: {
      // Checked as a RenderFarm call: the console is that API in a browser, so a worker key is refused (and audited) here.
      authenticate: (key: string) => authenticator.authorize(`Bearer ${key}`, { ...context, method: '/latentfarm.v1.RenderFarm/console' }),
      authenticateKeyId: (keyId: string) => authenticator.authenticateKeyId(keyId, context),
    },
    sessions: identity,
  };
  try {
    return await startHttpServer(farm, {
      host: config.httpHost, port: config.httpPort, auth, sessionTtlMs: config.httpSessionTtlS * 1000,
      log: log.child({ part: 'console' }),
    });
  } catch (err) {
    const le = listenError(err, config.httpHost, config.httpPort);
    throw le === undefined ? err : listenConfigError(le, { host: '--http-host', port: '--http-port', offHint: ', or -1 to turn the console off' });
  }
}

/** A host as a URL spells it: IPv6 in brackets; "listen everywhere" is reachable here as loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** The embedded store in --data-dir; image folders an older version left there (it kept no job records) are named once. */
function openEmbedded(dataDir: string, log: Logger): EmbeddedStore {
  const store = new EmbeddedStore(dataDir);
  if (store.orphanedImageDirs > 0) {
    log.warn({ dataDir, folders: store.orphanedImageDirs },
      'the data dir holds image folders from a version that kept no job records: they are not served, and every folder now in images/ may be deleted');
  }
  return store;
}

/** The embedded store writes images under --data-dir: a folder it cannot write would fail every result, forever, so it fails the start instead. */
async function checkDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`--data-dir: cannot write to "${dir}" (${code})`, { cause: err });
  }
}
