// The SDK as a user installs it: `npm pack` of the SDK and the contract it depends on, installed into
// an empty folder. It brings grpc-js and the generated code, not the farm (onnxruntime-node, sharp,
// NATS, the CLI's tsx); plain Node (no TypeScript loader) runs its compiled JavaScript against a
// real coordinator, and its type declarations compile for a TypeScript user.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, spawnCoordinator, tempDir, type CoordinatorProc } from '@latentfarm/testkit';

/** Runs a command to its end, without the npm_* variables of an `npm test` that may run us (they would point npm at the repository). */
async function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output };
}

/** Every package in a node_modules tree, nested ones included, by name. */
async function installedPackages(nodeModules: string): Promise<string[]> {
  const names: string[] = [];
  const entries = await readdir(nodeModules, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const inScope = e.name.startsWith('@') ? (await readdir(join(nodeModules, e.name))).map((n) => `${e.name}/${n}`) : [e.name];
    for (const name of inScope) {
      names.push(name, ...await installedPackages(join(nodeModules, name, 'node_modules')));
    }
  }
  return names;
}

describe('the packed SDK', () => {
  let dir: { path: string; remove(): Promise<void> } | undefined;
  let app = '';
  let coordinator: CoordinatorProc | undefined;

  beforeAll(async () => {
    dir = await tempDir();
    app = join(dir.path, 'app');
    // vitest's global setup has just built dist/ (tsc -b): that is what the packages hold.
    const packed = await run('npm', ['pack', '--workspace', 'proto', '--workspace', 'client', '--pack-destination', dir.path, '--json'], repoRoot);
    expect(packed.code, packed.output).toBe(0);
    const tarballs = (JSON.parse(packed.output) as { filename: string }[]).map((p) => join(dir?.path ?? '', p.filename));
    expect(tarballs).toHaveLength(2);
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }));
    // From npm's cache where it can (npm ci filled it), the registry otherwise; no install scripts, as in the repository.
    const installed = await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', ...tarballs], app);
    expect(installed.code, installed.output).toBe(0);
    coordinator = await spawnCoordinator(['--data-dir', join(dir.path, 'data')]);
  }, 600_000);

  afterAll(async () => {
    coordinator?.kill();
    await coordinator?.exited();
    await dir?.remove();
  });

  it('installs the SDK, the contract and grpc-js, and nothing of the farm', async () => {
    const names = await installedPackages(join(app, 'node_modules'));
    expect(names).toContain('@grpc/grpc-js');
    expect(names.filter((n) => n.startsWith('@latentfarm/')).sort()).toEqual(['@latentfarm/client', '@latentfarm/proto']);
    for (const farmOnly of ['onnxruntime-node', 'onnxruntime-common', 'sharp', 'tsx', 'pino', 'prom-client']) expect(names).not.toContain(farmOnly);
    expect(names.filter((n) => n.startsWith('@nats-io/'))).toEqual([]);
  });

  it('runs under plain Node and talks to a real coordinator', async () => {
    await writeFile(join(app, 'status.js'), [
      "import { FarmClient } from '@latentfarm/client';",
      'const farm = new FarmClient(process.argv[2]);',
      'const status = await farm.getFarmStatus();',
      'farm.close();',
      'console.log(JSON.stringify({ workers: status.workers.length, models: status.models.map((m) => m.name) }));',
    ].join('\n'));
    const r = await run(process.execPath, ['status.js', coordinator?.address ?? ''], app);
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.output)).toEqual({ workers: 0, models: ['sim'] });
  });

  it('finds the contract\'s descriptor set from its compiled code', async () => {
    const r = await run(process.execPath, ['--input-type=module', '-e',
      "const { fileDescriptorProtos } = await import('@latentfarm/proto'); console.log(fileDescriptorProtos().length);"], app);
    expect(r.code, r.output).toBe(0);
    expect(Number(r.output)).toBeGreaterThanOrEqual(3);
  });

  it('gives a TypeScript user its types', async () => {
    await writeFile(join(app, 'use.ts'), [
      "import { FarmClient, GrpcStatus, type WatchEvent } from '@latentfarm/client';",
      "const farm = new FarmClient('127.0.0.1:7400', { deadlineMs: 1000 });",
      'const code: number = GrpcStatus.UNAVAILABLE;',
      'async function bytes(id: string): Promise<number> {',
      '  let n = 0;',
      "  for await (const e of farm.watch(id)) if (e.type === 'image') n += e.data.length;",
      '  return n;',
      '}',
      'const last: WatchEvent | undefined = undefined;',
      'export { bytes, code, last };',
      // The declarations are real types, not `any`: a mistake a user can make is one they catch.
      '// @ts-expect-error: deadlineMs is a number',
      "new FarmClient('127.0.0.1:7400', { deadlineMs: 'soon' });",
    ].join('\n'));
    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const r = await run(process.execPath, [tsc, '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--strict', '--skipLibCheck',
      '--noEmit', '--types', 'node', 'use.ts'], app);
    expect(r.code, r.output).toBe(0);
  }, 300_000);
});
