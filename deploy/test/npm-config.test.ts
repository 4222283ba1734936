// The repository's npm configuration, as every `npm ci` reads it (README quick start, .ci/run,
// deploy/Dockerfile): npm accepts it without a warning, and dependency install scripts are off, so
// an install downloads nothing beyond the npm registry (onnxruntime-node's script would fetch CUDA
// binaries from NuGet). .ci/run checks a real install the same way.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from '@latentfarm/testkit';

describe('npm configuration of the repository', () => {
  let dir: { path: string; remove(): Promise<void> } | undefined;
  beforeAll(async () => { dir = await tempDir(); });
  afterAll(async () => { await dir?.remove(); });

  /** `npm <args>` in the repository, seeing only its .npmrc: empty user and global configs, and none of the npm_* variables of an `npm test` that may run us. */
  const npm = async (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const [user, global] = [join(dir?.path ?? '', 'user-npmrc'), join(dir?.path ?? '', 'global-npmrc')];
    await Promise.all([writeFile(user, ''), writeFile(global, '')]);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
    const child = spawn('npm', args, {
      cwd: repoRoot, env: { ...env, npm_config_userconfig: user, npm_config_globalconfig: global }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [code] = (await once(child, 'close')) as [number | null];
    return { code, stdout, stderr };
  };

  it('is read without a warning and keeps dependency install scripts from running', async () => {
    const res = await npm(['config', 'get', 'ignore-scripts']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe('true');
  });
});
