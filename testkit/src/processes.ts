// Launches latentfarm processes for integration tests, on loopback, and tears
// them down. Every server binds port 0 and the test reads the port it got from
// the process's own startup log line, so no port is ever picked in advance.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = join(repoRoot, 'cli/bin/latentfarm.js');

export interface Proc {
  readonly child: ChildProcess;
  readonly output: () => string;
  kill(signal?: NodeJS.Signals): void;
  exited(): Promise<number | null>;
  /**
   * The first line of output (already printed or still to come) that `match` maps to a value; rejects if the
   * process exits first. `what` names the line in the error.
   */
  line<T>(match: (line: string) => T | undefined, what: string): Promise<T>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** Wraps a spawned child: output kept for assertions and failure messages, lines matched as they arrive. */
export function watchProcess(child: ChildProcess): Proc {
  live.add(child);
  let out = '';
  const lines: string[] = [];
  let partial = '';
  const listeners = new Set<(line: string) => void>();
  const emit = (l: string) => {
    lines.push(l);
    for (const f of [...listeners]) f(l);
  };
  const onData = (d: Buffer) => {
    const text = d.toString();
    out += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) emit(l);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const failures = new Set<(why: Error) => void>();
  let closed = false;
  // 'close' comes after the last output was read (unlike 'exit'): only then is a missing line missing for good.
  child.once('close', () => {
    if (partial !== '') emit(partial);
    closed = true;
    const why = new Error(`process ended (${child.exitCode ?? child.signalCode ?? 'error'})`);
    for (const f of [...failures]) f(why);
  });
  const exit = once(child, 'exit').then(([code]) => {
    live.delete(child);
    return code as number | null;
  });
  return {
    child,
    output: () => out,
    kill: (signal = 'SIGTERM') => { child.kill(signal); },
    exited: () => exit,
    line<T>(match: (line: string) => T | undefined, what: string): Promise<T> {
      for (const l of lines) {
        const v = match(l);
        if (v !== undefined) return Promise.resolve(v);
      }
      if (closed) return Promise.reject(new Error(`process ended before ${what}:\n${out}`));
      return new Promise<T>((resolve, reject) => {
        const onLine = (l: string) => {
          const v = match(l);
          if (v === undefined) return;
          listeners.delete(onLine);
          failures.delete(onEnd);
          resolve(v);
        };
        const onEnd = (why: Error) => {
          listeners.delete(onLine);
          failures.delete(onEnd);
          reject(new Error(`${why.message} before ${what}:\n${out}`));
        };
        listeners.add(onLine);
        failures.add(onEnd);
      });
    },
  };
}

/** Spawns `latentfarm <args>`; stdout and stderr are kept for assertions and failures. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return watchProcess(spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Runs `latentfarm <args>` to the end. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const p = spawnCli(args, env);
  const code = await p.exited();
  return { code, output: p.output() };
}

/** A field of the first pino JSON log line with message `msg` (the process must log at info or lower). */
export function loggedField<T extends string | number>(p: Proc, msg: string, field: string, type: 'number' | 'string'): Promise<T> {
  return p.line((l) => {
    if (!l.startsWith('{')) return undefined;
    try {
      const rec = JSON.parse(l) as Record<string, unknown>;
      const v = rec[field];
      return rec['msg'] === msg && typeof v === type ? (v as T) : undefined;
    } catch {
      return undefined;
    }
  }, `the log line "${msg}" with ${field}`);
}

/** Log levels that still print the startup lines the helpers read the bound ports from. */
export type ChattyLevel = 'info' | 'debug' | 'trace';

export interface CoordinatorProc extends Proc {
  readonly port: number;
  /** Port of /metrics, or undefined when it was not served. */
  readonly metricsPort: number | undefined;
  /** `127.0.0.1:<port>` */
  readonly address: string;
}

/**
 * Starts `latentfarm serve` on loopback: on `port`, or on a port the kernel picks (0) that the coordinator
 * reports in its "coordinator listening" line. `metrics: true` serves /metrics the same way. `args` must not set
 * --port, --metrics-port or --log-level. Without `--admin-key-file` in `args` it runs with --no-auth (every caller
 * is an admin), as the tests of farm behaviour want; the auth tests pass a key file.
 */
export async function spawnCoordinator(args: string[], o: { port?: number; metrics?: boolean; logLevel?: ChattyLevel } = {}): Promise<CoordinatorProc> {
  const p = spawnCli(['serve', '--host', '127.0.0.1', '--port', String(o.port ?? 0), '--metrics-port', o.metrics === true ? '0' : '-1',
    '--log-level', o.logLevel ?? 'info', ...(args.includes('--admin-key-file') ? [] : ['--no-auth']), ...args]);
  try {
    const port = await loggedField<number>(p, 'coordinator listening', 'port', 'number');
    const metricsPort = o.metrics === true ? await loggedField<number>(p, 'coordinator listening', 'metricsPort', 'number') : undefined;
    return { ...p, port, metricsPort, address: `127.0.0.1:${port}` };
  } catch (err) {
    p.kill('SIGKILL');
    await p.exited();
    throw err;
  }
}

export interface WorkerOptions {
  maxBatch?: number;
  stepBaseMs?: number;
  stepPerImageMs?: number;
  models?: string[];
  extra?: string[];
  /** Worker id (default: a fresh `sim-<random>`), so a test can wait for this very worker. */
  id?: string;
  /** Serve /metrics on a port the kernel picks; read it with `metricsPort()`. */
  metrics?: boolean;
}

export interface SimWorker extends Proc {
  readonly id: string;
  /** The /metrics port the worker reported (only with `metrics: true`). */
  metricsPort(): Promise<number>;
}

export function spawnSimWorker(coordinator: string, o: WorkerOptions = {}): SimWorker {
  const id = o.id ?? `sim-${randomBytes(4).toString('hex')}`;
  const p = spawnCli([
    'worker', '--coordinator', coordinator, '--engine', 'sim', '--id', id, '--metrics-port', o.metrics === true ? '0' : '-1', '--log-level', 'info',
    '--max-batch', String(o.maxBatch ?? 8), '--sim-step-base-ms', String(o.stepBaseMs ?? 2),
    '--sim-step-per-image-ms', String(o.stepPerImageMs ?? 0.1), '--models', (o.models ?? ['sim']).join(','),
    '--heartbeat-ms', '200', '--reconnect-base-ms', '50', '--reconnect-max-ms', '500',
    ...(o.extra ?? []),
  ]);
  return { ...p, id, metricsPort: () => loggedField<number>(p, 'metrics listening', 'metricsPort', 'number') };
}

export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'latentfarm-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'latentfarm-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a value other than undefined/false, or times out. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
