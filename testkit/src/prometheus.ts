// A real Prometheus server for tests (Debian's `prometheus` package; `.ci/run`
// installs it): random loopback port, temp TSDB, torn down with the test.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, freePort, tempDir } from './processes.js';

/** One sample of an instant vector, as the HTTP API returns it. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant-query answer: a vector, a scalar or a string (the API's `data`). */
export type PromQueryData =
  | { resultType: 'vector'; result: PromSample[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] }
  | { resultType: 'matrix'; result: { metric: Record<string, string>; values: [number, string][] }[] };

export interface PromRule {
  name: string;
  query: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  state?: string;
}

export interface Prometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Prometheus's own log, for failure messages. */
  output(): string;
  /** GET /api/v1/<path>; throws with Prometheus's error text unless the answer is `status: success`. */
  api<T>(path: string, params?: Record<string, string>): Promise<T>;
  /** Instant query (`time` in Unix seconds; default: now). */
  query(expr: string, time?: number): Promise<PromQueryData>;
  /** Every loaded rule, flattened across groups. */
  rules(): Promise<PromRule[]>;
  stop(): Promise<void>;
}

/** Whether a program is on the PATH (tests that need one say how to install it). */
export function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { stdio: 'ignore' }).status === 0;
}

/** Runs a program to the end with its output captured (for `promtool` and the like). */
export async function runProgram(program: string, args: string[], cwd?: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(program, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/**
 * Starts `prometheus` with the given configuration text (rule_files should be
 * absolute paths) and waits until `/-/ready` answers.
 */
export async function startPrometheus(configYaml: string, o: { readyTimeoutMs?: number } = {}): Promise<Prometheus> {
  const dir = await tempDir();
  const configFile = join(dir.path, 'prometheus.yml');
  await writeFile(configFile, configYaml);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn('prometheus', [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  let exited = false;
  const exit = once(child, 'exit').then(() => { exited = true; });
  const killOnExit = () => { child.kill('SIGKILL'); };
  process.on('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    }
    await dir.remove();
  };

  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (body.status !== 'success' || body.data === undefined) {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.errorType ?? res.status}: ${body.error ?? 'no data'}`);
    }
    return body.data;
  };

  try {
    await eventually(async () => {
      if (exited) throw new Error(`prometheus exited at start:\n${out}`);
      try {
        return (await fetch(`${url}/-/ready`)).ok;
      } catch {
        return false;
      }
    }, o.readyTimeoutMs ?? 30_000, 'prometheus to be ready');
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    output: () => out,
    api,
    query: (expr, time) => api<PromQueryData>('query', time === undefined ? { query: expr } : { query: expr, time: String(time) }),
    async rules() {
      const data = await api<{ groups: { rules: PromRule[] }[] }>('rules');
      return data.groups.flatMap((g) => g.rules);
    },
    stop,
  };
}
