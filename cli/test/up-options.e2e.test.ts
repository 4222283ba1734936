// `up` takes the coordinator's and the worker's own options: every one of them is a flag of up, and a
// setting given to up reaches the coordinator or the workers it starts.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flagName } from '@latentfarm/common';
import { coordinatorOptions } from '@latentfarm/coordinator';
import { runCli, tempDir } from '@latentfarm/testkit';
import { workerOptions } from '@latentfarm/worker';

/**
 * What up sets for its workers and coordinator itself, so it takes no flag for it, and the worker's
 * in-cluster options (an in-process worker has no pod of its own to annotate).
 */
// Transport security too: up's workers dial the coordinator in the same process (the options are serve's and worker's).
const setByUp = new Set([
  'models', 'coordinator', 'id', 'deletionCostMs', 'kubeServiceAccountDir', 'noAuth', 'adminKeyFile', 'apiKey',
  'workerPort', 'tls', 'tlsCa', 'tlsCert', 'tlsKey', 'tlsClientCa',
]);

describe('up options', () => {
  it('lists every coordinator and worker option but those it sets itself', async () => {
    const r = await runCli(['up', '--help']);
    expect(r.code, r.output).toBe(0);
    const flags = [...Object.keys(coordinatorOptions), ...Object.keys(workerOptions)].filter((k) => !setByUp.has(k)).map(flagName);
    expect(flags.length).toBeGreaterThan(40);
    for (const f of flags) expect(r.output).toContain(`  --${f} <`);
    for (const k of setByUp) expect(r.output).not.toContain(`  --${flagName(k)} <`);
  });

  it('checks the coordinator settings together before starting anything', async () => {
    const dir = await tempDir();
    try {
      const r = await runCli(['up', '--prompt', 'x', '--default-width', '12', '--out', join(dir.path, 'out'), '--data-dir', join(dir.path, 'data')]);
      expect(r.code, r.output).toBe(2);
      expect(r.output.trim()).toBe('latentfarm up: --default-width: 12 is not a multiple of 8');
    } finally {
      await dir.remove();
    }
  });

  it('gives a coordinator setting to its coordinator', async () => {
    const dir = await tempDir();
    try {
      const r = await runCli(['up', '--prompt', 'a red circle', '--workers', '1', '--steps', '40', '--max-steps', '30',
        '--out', join(dir.path, 'out'), '--data-dir', join(dir.path, 'data')]);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/^latentfarm up: INVALID_ARGUMENT: .*steps: 40 is out of range 1\.\.30$/m);
    } finally {
      await dir.remove();
    }
  });

  it('gives a worker setting to its workers', async () => {
    const dir = await tempDir();
    try {
      const r = await runCli(['up', '--prompt', 'a boom circle', '--workers', '1', '--steps', '2', '--sim-fail-marker', 'boom', '--max-attempts', '1',
        '--out', join(dir.path, 'out'), '--data-dir', join(dir.path, 'data')]);
      expect(r.code, r.output).toBe(1);
      expect(r.output).toMatch(/^FAILED: 0 images written to .*out\/ \(.*1 failed\)$/m);
    } finally {
      await dir.remove();
    }
  });
});
