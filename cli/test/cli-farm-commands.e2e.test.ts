// The farm commands (`up`, `serve`, `worker`) as a user starts them: bad
// input and busy ports end the process with one line and exit 2, leaving
// nothing running; several workers share a host without settings; `up
// --prompt` renders and exits.
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, runCli, spawnCli, tempDir, type Proc } from '@latentfarm/testkit';
import { startTestFarm, type TestFarm } from './farm.js';

/** A port this test holds, so whatever is told to use it finds it taken. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, server };
}

/** The output is exactly one line (no stack trace, no log lines) and it matches. */
function oneLine(output: string, re: RegExp): void {
  const lines = output.trim().split('\n');
  expect(lines, output).toHaveLength(1);
  expect(lines[0], output).toMatch(re);
}

describe('farm commands: bad input and busy ports', () => {
  let dir: { path: string; remove(): Promise<void> };
  let held: { port: number; server: Server };
  beforeAll(async () => {
    dir = await tempDir();
    held = await holdPort();
  });
  afterAll(async () => {
    held?.server.close();
    await dir?.remove();
  });

  it('up with a broken model folder (serving) exits 2 with one line, nothing left running', async () => {
    const r = await runCli(['up', '--engine', 'onnx', '--model-dir', dir.path, '--workers', '1', '--port', '0', '--metrics-port', '-1', '--http-port', '-1', '--data-dir', join(dir.path, 'data')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm up: --model-dir: .*model_index\.json: missing$/);
  });

  it('up with a broken model folder (rendering) exits 2 with one line', async () => {
    const r = await runCli(['up', '--engine', 'onnx', '--model-dir', join(dir.path, 'nope'), '--prompt', 'x', '--data-dir', join(dir.path, 'data')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm up: --model-dir: .*nope: model folder does not exist$/);
  });

  it('up with a prompt file that does not exist exits 2 before starting anything', async () => {
    const r = await runCli(['up', '--prompts', join(dir.path, 'missing.txt'), '--data-dir', join(dir.path, 'data')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm up: .*missing\.txt: no such file or directory$/);
  });

  it('up on a port in use exits 2 with one line naming the port and its flag', async () => {
    const r = await runCli(['up', '--port', String(held.port), '--metrics-port', '-1', '--http-port', '-1', '--workers', '1', '--data-dir', join(dir.path, 'data')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, new RegExp(`^latentfarm up: --port: 127\\.0\\.0\\.1:${held.port} is already in use`));
  });

  it('serve on a gRPC or /metrics port in use exits 2 with one line naming the flag', async () => {
    const grpc = await runCli(['serve', '--no-auth', '--port', String(held.port), '--metrics-port', '-1', '--data-dir', join(dir.path, 'data')]);
    expect(grpc.code, grpc.output).toBe(2);
    oneLine(grpc.output, new RegExp(`^latentfarm serve: --port: 127\\.0\\.0\\.1:${held.port} is already in use`));
    const metrics = await runCli(['serve', '--no-auth', '--port', '0', '--metrics-port', String(held.port), '--data-dir', join(dir.path, 'data')]);
    expect(metrics.code, metrics.output).toBe(2);
    oneLine(metrics.output, new RegExp(`^latentfarm serve: --metrics-port: 127\\.0\\.0\\.1:${held.port} is already in use.*-1 to turn /metrics off$`));
  });

  it('serve with a --data-dir it cannot write exits 2 with one line (not a farm that fails every image)', async () => {
    const file = join(dir.path, 'a-file');
    await writeFile(file, '');
    const r = await runCli(['serve', '--no-auth', '--port', '0', '--metrics-port', '-1', '--data-dir', join(file, 'data')]);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm serve: --data-dir: cannot write to ".*a-file\/data" \(ENOTDIR\)$/);
  });

  it('worker on a /metrics port the user chose, in use, exits 2 with one line', async () => {
    const r = await runCli(['worker', '--metrics-port', String(held.port), '--log-level', 'warn']);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, new RegExp(`^latentfarm worker: --metrics-port: 127\\.0\\.0\\.1:${held.port} is already in use`));
  });

  it('worker with a model folder that does not exist exits 2 with one line', async () => {
    const r = await runCli(['worker', '--engine', 'onnx', '--model-dir', '/nonexistent', '--metrics-port', '-1']);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm worker: --model-dir: \/nonexistent: model folder does not exist$/);
  });

  it('worker with a coordinator address that is not host:port exits 2 with one line', async () => {
    const r = await runCli(['worker', '--coordinator', 'garbage', '--metrics-port', '-1']);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm worker: --coordinator: "garbage" is not host:port/);
  });
});

describe('up --prompt', () => {
  it('renders the one prompt like a one-line prompt file and exits, on no fixed port', async () => {
    const dir = await tempDir();
    try {
      const out = join(dir.path, 'out');
      const r = await runCli(['up', '--prompt', 'a red circle', '--images', '2', '--workers', '1', '--width', '64', '--height', '64',
        '--steps', '2', '--out', out, '--data-dir', join(dir.path, 'data')]);
      expect(r.code, r.output).toBe(0);
      expect((await readdir(out)).sort()).toEqual(['00000.png', '00001.png']);
      // A render run needs no fixed port: a free gRPC port and no /metrics, so it never collides with a farm on this host.
      const farmLine = /farm up: coordinator 127\.0\.0\.1:(\d+), 1 sim workers$/m.exec(r.output);
      expect(farmLine, r.output).not.toBeNull();
      expect(Number(farmLine?.[1])).not.toBe(7400);
      expect(r.output).toMatch(/SUCCEEDED: 2 images written to .*out\/ \(2\/2 done, 0 failed\)/);
    } finally {
      await dir.remove();
    }
  });

  it('refuses --prompt together with --prompts, before starting anything', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'p.txt');
      await writeFile(file, 'a blue square\n');
      const r = await runCli(['up', '--prompt', 'x', '--prompts', file, '--data-dir', join(dir.path, 'data')]);
      expect(r.code, r.output).toBe(2);
      oneLine(r.output, /^latentfarm up: --prompt: give either --prompt or a prompt file, not both$/);
    } finally {
      await dir.remove();
    }
  });
});

describe('several workers on one host', () => {
  let farm: TestFarm;
  const workers: Proc[] = [];
  beforeAll(async () => {
    farm = await startTestFarm(0);
  }, 60_000);
  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited()));
    await farm?.stop();
  });

  it('start with no port settings: each connects and serves its own /metrics', async () => {
    // As the README's multi-process farm section runs them: no --metrics-port.
    for (const id of ['host-a', 'host-b']) workers.push(spawnCli(['worker', '--coordinator', farm.coordinator.address, '--id', id]));
    await eventually(async () => (await farm.client.getFarmStatus()).workers.length === 2, 60_000, 'both workers to connect');
    const ports = await Promise.all(workers.map((w) => eventually(() => /"metricsPort":(\d+)/.exec(w.output())?.[1], 30_000, 'the metrics port in the log')));
    expect(new Set(ports).size).toBe(2);
    for (const port of ports) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toContain('latentfarm_worker_connected');
    }
    expect(workers.map((w) => w.output()).join('')).not.toMatch(/EADDRINUSE|\n\s+at /);
  });
});
