import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { Registry, collectDefaultMetrics } from 'prom-client';

export { Registry };

/** A registry with process metrics. Only main.ts calls this; modules get it passed in. */
export function createRegistry(part: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ part });
  collectDefaultMetrics({ register: registry, prefix: 'latentfarm_' });
  return registry;
}

/** Serves GET /metrics (Prometheus text format) and GET /healthz. Port 0 picks a free port. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': registry.contentType }).end(body); },
        (err: unknown) => { res.writeHead(500).end(String(err)); },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200).end('ok\n');
    } else {
      res.writeHead(404).end('not found\n');
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr !== null ? addr.port : port };
}
