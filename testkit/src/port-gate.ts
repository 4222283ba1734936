// A loopback port held by the test process that refuses every connection until
// it is told where to forward them. For "a client started before its server"
// tests: the client gets a real address where nothing answers yet, and no other
// process can take that port meanwhile (as it could if the port were picked,
// released, and bound again later).
import { EventEmitter, once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

export interface PortGate {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** Resolves once `n` connections in all have been refused. */
  refused(n: number): Promise<void>;
  /** From now on, connections are forwarded to 127.0.0.1:`port`. */
  forwardTo(port: number): void;
  close(): Promise<void>;
}

export async function openPortGate(): Promise<PortGate> {
  let target: number | undefined;
  let refusedCount = 0;
  const events = new EventEmitter();
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    if (target === undefined) {
      refusedCount++;
      events.emit('refused');
      // A reset, as a closed port answers; not a polite FIN that looks like a server hanging up.
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.once('close', () => { sockets.delete(upstream); client.destroy(); });
    client.once('close', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the port gate has no TCP address');
  return {
    port: addr.port,
    address: `127.0.0.1:${addr.port}`,
    async refused(n) {
      while (refusedCount < n) await once(events, 'refused');
    },
    forwardTo(port) { target = port; },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
