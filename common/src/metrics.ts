import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ListenError, listenError } from './listen.js';

export { Registry };

const PREFIX = 'latentfarm_';

// prom-client's default metrics include three gauges named `…_total`, a suffix Prometheus keeps
// for counters (`promtool check metrics` rejects them). Each is the sum of a per-type gauge that
// is exported too: `sum(latentfarm_nodejs_active_handles)` is the same number.
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** A registry with process metrics. Only main.ts calls this; modules get it passed in. */
export function createRegistry(part: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ part });
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(`${PREFIX}${name}`);
  return registry;
}

export interface MetricsServer {
  server: Server;
  /** The port it listens on. */
  port: number;
  /** The asked-for port, when it was taken and `orFreePort` took another. */
  movedFrom: number | undefined;
}

/**
 * Serves GET /metrics (Prometheus text format), GET /healthz and, with `ready`, GET /readyz (200 while it says
 * true, 503 after: a worker draining is alive but should count as unavailable). Port 0 picks a
 * free port. A port that cannot be used fails with a ListenError; with
 * `orFreePort` (a default port, not one the user chose) a port in use gives way
 * to a free one, so several processes share a host without settings.
 */
export async function serveMetrics(registry: Registry, host: string, port: number, options: { orFreePort?: boolean; ready?: () => boolean } = {}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': registry.contentType }).end(body); },
        (err: unknown) => { res.writeHead(500).end(String(err)); },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else if (req.url === '/readyz' && options.ready !== undefined) {
      if (options.ready()) res.writeHead(200).end('ok\n');
      else res.writeHead(503).end('draining\n');
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  const listen = async (p: number): Promise<void> => {
    server.listen(p, host);
    try {
      await once(server, 'listening');
    } catch (err) {
      throw listenError(err, host, p) ?? err;
    }
  };
  let movedFrom: number | undefined;
  try {
    await listen(port);
  } catch (err) {
    const inUse = err instanceof ListenError && err.problem === 'in-use';
    if (!(inUse && options.orFreePort === true && port !== 0)) throw err;
    movedFrom = port;
    await listen(0);
  }
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : port, movedFrom };
}
