// Every live /metrics endpoint passes `promtool check metrics` (Prometheus's own lint of names,
// types and help): a coordinator (`serve`), a worker, and the combined endpoint of `up`, each
// after rendering a job so that labelled series and histograms are there too.
// Needs `promtool` on the PATH (Debian package `prometheus`; .ci/run installs it).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, onPath, runCli, spawnCli, tempDir, type Proc } from '@latentfarm/testkit';

/** `promtool check metrics` reads the exposition text on stdin; it prints one line per problem. */
async function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  child.stdin.end(text);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/** The first pino log line of a process that carries `field` (a port it bound), once it is there. */
const loggedPort = (p: Proc, field: string, what: string): Promise<number> => eventually(() => {
  for (const line of p.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    const value = (JSON.parse(line) as Record<string, unknown>)[field];
    if (typeof value === 'number') return value;
  }
  return undefined;
}, 30_000, what);

const scrape = async (port: number): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

describe('live /metrics endpoints pass promtool check metrics', () => {
  const procs: Proc[] = [];
  let dir: { path: string; remove(): Promise<void> } | undefined;

  beforeAll(async () => {
    if (!onPath('promtool')) throw new Error('promtool not on the PATH: apt-get install prometheus (.ci/run does)');
    dir = await tempDir();
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited()));
    await dir?.remove();
  });

  const render = async (coordinator: string, out: string): Promise<void> => {
    const job = await runCli(['submit', '--coordinator', coordinator, '--model', 'sim', '--prompt', 'a lint check', '--images', '3',
      '--steps', '2', '--width', '64', '--height', '64', '--seed', '1', '--watch', '--out', join(dir?.path ?? '', out)]);
    expect(job.code, job.output).toBe(0);
  };

  const expectLintClean = async (endpoint: string, text: string, families: string[]): Promise<void> => {
    // Guards against passing on an empty or partial page: the families this endpoint must export.
    for (const family of families) expect(text, `${endpoint} exports ${family}`).toMatch(new RegExp(`^# TYPE ${family} `, 'm'));
    const lint = await promtoolCheckMetrics(text);
    expect({ endpoint, problems: lint.output.trim() }).toEqual({ endpoint, problems: '' });
    expect(lint.code).toBe(0);
  };

  it('coordinator and worker (serve + worker processes)', async () => {
    const coord = spawnCli(['serve', '--no-auth', '--port', '0', '--metrics-port', '0', '--models', 'sim', '--data-dir', join(dir?.path ?? '', 'serve'), '--log-level', 'info']);
    procs.push(coord);
    const grpcPort = await loggedPort(coord, 'port', `the coordinator to listen\n${coord.output()}`);
    const coordMetrics = await loggedPort(coord, 'metricsPort', 'the coordinator to serve /metrics');
    const worker = spawnCli(['worker', '--coordinator', `127.0.0.1:${grpcPort}`, '--engine', 'sim', '--metrics-port', '0',
      '--log-level', 'info', '--heartbeat-ms', '200', '--sim-step-base-ms', '2']);
    procs.push(worker);
    const workerMetrics = await loggedPort(worker, 'metricsPort', 'the worker to serve /metrics');
    await render(`127.0.0.1:${grpcPort}`, 'serve-out');

    await expectLintClean('coordinator', await scrape(coordMetrics),
      ['latentfarm_images_completed_total', 'latentfarm_image_latency_seconds', 'latentfarm_nodejs_active_handles', 'latentfarm_process_cpu_seconds_total']);
    await expectLintClean('worker', await scrape(workerMetrics),
      ['latentfarm_worker_images_total', 'latentfarm_unet_call_seconds', 'latentfarm_nodejs_active_handles', 'latentfarm_process_cpu_seconds_total']);
  });

  it('the combined endpoint of up', async () => {
    const up = spawnCli(['up', '--port', '0', '--metrics-port', '0', '--http-port', '0', '--workers', '1', '--engine', 'sim', '--data-dir', join(dir?.path ?? '', 'up')]);
    procs.push(up);
    const [coordinator, metricsPort] = await eventually(() => {
      const grpc = /coordinator (\S+:\d+)/.exec(up.output())?.[1];
      const metrics = /metrics http:\/\/\S+:(\d+)\/metrics/.exec(up.output())?.[1];
      return grpc !== undefined && metrics !== undefined ? [grpc, Number(metrics)] as const : undefined;
    }, 30_000, 'up to print its addresses');
    await render(coordinator, 'up-out');

    await expectLintClean('up', await scrape(metricsPort),
      ['latentfarm_images_completed_total', 'latentfarm_worker_images_total', 'latentfarm_unet_call_seconds', 'latentfarm_nodejs_active_handles']);
  });
});
