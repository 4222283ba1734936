// Launches latentfarm processes for integration tests, on loopback with free
// ports, and tears them down.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliPath = join(repoRoot, 'client/bin/latentfarm.js');

export interface Proc {
  readonly child: ChildProcess;
  readonly output: () => string;
  kill(signal?: NodeJS.Signals): void;
  exited(): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => { for (const c of live) c.kill('SIGKILL'); });

/** Spawns `latentfarm <args>`; stdout and stderr are kept for assertions and failures. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = once(child, 'exit').then(([code]) => { live.delete(child); return code as number | null; });
  return {
    child,
    output: () => out,
    kill: (signal = 'SIGTERM') => { child.kill(signal); },
    exited: () => exit,
  };
}

/** Runs `latentfarm <args>` to the end. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const p = spawnCli(args, env);
  const code = await p.exited();
  return { code, output: p.output() };
}

export interface WorkerOptions {
  maxBatch?: number;
  stepBaseMs?: number;
  stepPerImageMs?: number;
  models?: string[];
  extra?: string[];
  id?: string;
}

export function spawnSimWorker(coordinator: string, o: WorkerOptions = {}): Proc {
  return spawnCli([
    'worker', '--coordinator', coordinator, '--engine', 'sim', '--metrics-port', '-1', '--log-level', 'warn',
    '--max-batch', String(o.maxBatch ?? 8), '--sim-step-base-ms', String(o.stepBaseMs ?? 2),
    '--sim-step-per-image-ms', String(o.stepPerImageMs ?? 0.1), '--models', (o.models ?? ['sim']).join(','),
    '--heartbeat-ms', '200', '--reconnect-base-ms', '50', '--reconnect-max-ms', '500',
    ...(o.id !== undefined ? ['--id', o.id] : []),
    ...(o.extra ?? []),
  ]);
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

/** A TCP port that was free a moment ago (for processes that must be told a port before it listens). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}
