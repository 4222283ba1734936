// A real Prometheus server for tests (Debian's `prometheus` package; `.ci/run`
// installs it): a loopback port the kernel picks (Prometheus logs the address
// it bound), temp TSDB, torn down with the test.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir, watchProcess } from './processes.js';

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
 * Starts `prometheus` with the given configuration text (rule_files and file_sd files should be absolute paths)
 * and waits until it is ready to serve queries.
 */
export async function startPrometheus(configYaml: string, o: { readyTimeoutMs?: number } = {}): Promise<Prometheus> {
  const dir = await tempDir();
  const configFile = join(dir.path, 'prometheus.yml');
  await writeFile(configFile, configYaml);
  // Port 0: the kernel picks, and Prometheus logs `msg="Listening on" address=127.0.0.1:<port>` (info level).
  const child = spawn('prometheus', [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir.path, 'tsdb')}`,
    '--web.listen-address=127.0.0.1:0', '--log.level=info',
  ], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = watchProcess(child);
  const failedToStart = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`prometheus could not start (apt-get install prometheus): ${err.message}`)));
  });
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

  let url = '';
  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const res = await fetch(`${url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    const body = (await res.json()) as { status: string; data?: T; error?: string; errorType?: string };
    if (body.status !== 'success' || body.data === undefined) {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.errorType ?? res.status}: ${body.error ?? 'no data'}`);
    }
    return body.data;
  };

  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = o.readyTimeoutMs ?? 30_000;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`prometheus not ready after ${timeoutMs} ms:\n${proc.output()}`)), timeoutMs);
  });
  try {
    const address = await Promise.race([failedToStart, timeout,
      proc.line((l) => (l.includes('msg="Listening on"') ? /\baddress=(\S+:\d+)/.exec(l)?.[1] : undefined), 'prometheus to listen')]);
    url = `http://${address}`;
    await Promise.race([failedToStart, timeout,
      proc.line((l) => (l.includes('msg="Server is ready to receive web requests."') ? true : undefined), 'prometheus to be ready')]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  return {
    url,
    output: () => proc.output(),
    api,
    query: (expr, time) => api<PromQueryData>('query', time === undefined ? { query: expr } : { query: expr, time: String(time) }),
    async rules() {
      const data = await api<{ groups: { rules: PromRule[] }[] }>('rules');
      return data.groups.flatMap((g) => g.rules);
    },
    stop,
  };
}
