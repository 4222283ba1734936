// A real nats-server (Debian's package, on the PATH) for tests: JetStream on,
// loopback ports the kernel picks (read back from the server's ports file) and
// a temp store dir, both kept across restarts so a test can kill it, pause it
// or bring it back exactly where it was.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consumerCount, jetstreamState, portOf, residentBytes } from './nats-monitor.js';
import { spawnNatsServer } from './nats-process.js';
import type { Proc } from './processes.js';

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Output of the current process (for failure messages). */
  output(): string;
  /** Every stream and consumer with its counters, from the monitoring endpoint (for failure messages). */
  jetstreamState(): Promise<string>;
  /** How many JetStream consumers the server holds, from its monitoring endpoint. */
  consumers(): Promise<number>;
  /** The server's resident memory in bytes, as it reports it. */
  residentBytes(): Promise<number>;
  /** The running server's process id (for CPU accounting). */
  pid(): number;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port with the same store dir. */
  restart(): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing, like a hung or partitioned server. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Kills it and removes the store dir. */
  stop(): Promise<void>;
}

export async function startNatsServer(o: { storeDir?: string } = {}): Promise<NatsServer> {
  const storeDir = o.storeDir ?? (await mkdtemp(join(tmpdir(), 'latentfarm-nats-')));
  const portsDir = await mkdtemp(join(tmpdir(), 'latentfarm-nats-ports-'));
  // -1: the kernel picks. A restart reuses the ports the first start got, as clients hold the URL; only in the
  // moment between a kill and the restart could another process take them (then the restart fails, saying so).
  let port = -1;
  let monitorPort = -1;
  let proc: Proc | undefined;

  const launch = async (): Promise<void> => {
    const started = await spawnNatsServer(['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-js', '-sd', storeDir], portsDir);
    proc = started.proc;
    port = portOf(started.ports.nats, 'nats', proc);
    monitorPort = portOf(started.ports.monitoring, 'monitoring', proc);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = proc?.child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    if (signal !== 'SIGCONT') c.kill('SIGCONT'); // a paused server must run to act on SIGTERM
    c.kill(signal);
    await proc?.exited();
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    output: () => proc?.output() ?? '',
    jetstreamState: () => jetstreamState(monitorPort),
    consumers: () => consumerCount(monitorPort),
    residentBytes: () => residentBytes(monitorPort),
    pid: () => proc?.child.pid ?? 0,
    kill,
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    pause() { proc?.child.kill('SIGSTOP'); },
    resume() { proc?.child.kill('SIGCONT'); },
    async stop() {
      await kill('SIGKILL');
      await rm(portsDir, { recursive: true, force: true });
      if (o.storeDir === undefined) await rm(storeDir, { recursive: true, force: true });
    },
  };
}
