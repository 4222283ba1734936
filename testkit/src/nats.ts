// A real nats-server (Debian's package, on the PATH) for tests: JetStream on,
// a free loopback port and a temp store dir, both kept across restarts so a
// test can kill it, pause it or bring it back exactly where it was.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';

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

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

export async function startNatsServer(o: { port?: number; storeDir?: string } = {}): Promise<NatsServer> {
  const port = o.port ?? (await freePort());
  const monitorPort = await freePort();
  const storeDir = o.storeDir ?? (await mkdtemp(join(tmpdir(), 'latentfarm-nats-')));
  let child: ChildProcess | undefined;
  let out = '';

  const launch = async (): Promise<void> => {
    out = '';
    const c = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    c.once('exit', () => live.delete(c));
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('Server is ready')) resolve();
      };
      c.stdout?.on('data', onData);
      c.stderr?.on('data', onData);
      c.once('error', (err) => reject(new Error(`nats-server could not start (is it on the PATH? apt-get install nats-server): ${err.message}`)));
      c.once('exit', (code) => reject(new Error(`nats-server exited with ${code}:\n${out}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`nats-server not ready after 30 s:\n${out}`)), 30_000); });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    if (signal !== 'SIGCONT') c.kill('SIGCONT'); // a paused server must run to act on SIGTERM
    c.kill(signal);
    await exited;
  };

  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    output: () => out,
    jetstreamState: () => jetstreamState(monitorPort),
    kill,
    async restart() {
      await kill('SIGKILL');
      await launch();
    },
    pause() { child?.kill('SIGSTOP'); },
    resume() { child?.kill('SIGCONT'); },
    async stop() {
      await kill('SIGKILL');
      if (o.storeDir === undefined) await rm(storeDir, { recursive: true, force: true });
    },
  };
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
