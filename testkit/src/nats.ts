// A real nats-server (Debian's package, on the PATH) for tests: JetStream on,
// loopback ports the kernel picks (read back from the server's ports file) and
// a temp store dir, both kept across restarts so a test can kill it, pause it
// or bring it back exactly where it was.
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchProcess, type Proc } from './processes.js';

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Output of the current process (for failure messages). */
  output(): string;
  /** Every stream and consumer with its counters, from the monitoring endpoint (for failure messages). */
  jetstreamState(): Promise<string>;
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

/** What nats-server writes to `<ports_file_dir>/nats-server_<pid>.ports` once it listens. */
interface PortsFile {
  nats?: string[];
  monitoring?: string[];
}

const READY_TIMEOUT_MS = 30_000;

export async function startNatsServer(o: { storeDir?: string } = {}): Promise<NatsServer> {
  const storeDir = o.storeDir ?? (await mkdtemp(join(tmpdir(), 'latentfarm-nats-')));
  const portsDir = await mkdtemp(join(tmpdir(), 'latentfarm-nats-ports-'));
  // -1: the kernel picks. A restart reuses the ports the first start got, as clients hold the URL; only in the
  // moment between a kill and the restart could another process take them (then the restart fails, saying so).
  let port = -1;
  let monitorPort = -1;
  let proc: Proc | undefined;

  const launch = async (): Promise<void> => {
    const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-js', '-sd', storeDir,
      '--ports_file_dir', portsDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = watchProcess(child);
    proc = p;
    const started = new Promise<never>((_, reject) => {
      child.once('error', (err) => reject(new Error(`nats-server could not start (is it on the PATH? apt-get install nats-server): ${err.message}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`nats-server not ready after ${READY_TIMEOUT_MS / 1000} s:\n${p.output()}`)), READY_TIMEOUT_MS);
    });
    try {
      const ports = await Promise.race([portsFile(portsDir, p), started, timeout]);
      port = portOf(ports.nats?.[0], 'nats', p);
      monitorPort = portOf(ports.monitoring?.[0], 'monitoring', p);
      // The ports file is written as the listeners open; "Server is ready" says clients are served.
      await Promise.race([p.line((l) => (l.includes('Server is ready') ? true : undefined), 'nats-server to be ready'), started, timeout]);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    } finally {
      clearTimeout(timer);
    }
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

function portOf(url: string | undefined, what: string, p: Proc): number {
  const port = url === undefined ? NaN : Number(new URL(url).port);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`nats-server's ports file has no ${what} port (${url ?? 'none'}):\n${p.output()}`);
  return port;
}

/** Waits for the ports file of process `p` to appear in `dir` (watching the folder, so no polling) and reads it. */
function portsFile(dir: string, p: Proc): Promise<PortsFile> {
  const suffix = `_${p.child.pid ?? 0}.ports`;
  return new Promise<PortsFile>((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, v?: PortsFile) => {
      if (done) return;
      done = true;
      watcher.close();
      if (err !== undefined) reject(err);
      else resolve(v as PortsFile);
    };
    const check = () => {
      void (async () => {
        const name = (await readdir(dir)).find((f) => f.endsWith(suffix));
        if (name === undefined) return;
        // A file caught half written fails to parse; the write that completes it fires the watcher again.
        const ports = JSON.parse(await readFile(join(dir, name), 'utf8')) as PortsFile;
        finish(undefined, ports);
      })().catch(() => undefined);
    };
    const watcher = watch(dir, check);
    void p.exited().then(() => finish(new Error(`nats-server exited at start:\n${p.output()}`)));
    check();
  });
}

interface Jsz {
  account_details?: { stream_detail?: {
    name: string;
    state: { messages: number; first_seq: number; last_seq: number; num_deleted?: number };
    consumer_detail?: { name: string; num_pending: number; num_ack_pending: number; num_redelivered: number; num_waiting: number;
      delivered: { stream_seq: number }; ack_floor: { stream_seq: number } }[];
  }[] }[];
}

async function jetstreamState(monitorPort: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz?accounts=true&streams=true&consumers=true`, { signal: AbortSignal.timeout(3_000) });
    const jsz = (await res.json()) as Jsz;
    const lines: string[] = [];
    for (const s of (jsz.account_details ?? []).flatMap((a) => a.stream_detail ?? [])) {
      lines.push(`stream ${s.name}: ${s.state.messages} msgs, seq ${s.state.first_seq}..${s.state.last_seq}, ${s.state.num_deleted ?? 0} deleted`);
      for (const c of s.consumer_detail ?? []) {
        lines.push(`  consumer ${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}, redelivered ${c.num_redelivered}, `
          + `waiting ${c.num_waiting}, delivered ${c.delivered.stream_seq}, ack floor ${c.ack_floor.stream_seq}`);
      }
    }
    return lines.join('\n');
  } catch (err) {
    return `(no JetStream state: ${(err as Error).message})`;
  }
}
