// `latentfarm up` serves the console from the compiled packages, as users run it, and prints its address.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, spawnCli, tempDir, type Proc } from '@latentfarm/testkit';

describe('up and the console', () => {
  let up: Proc | undefined;
  let dir: { path: string; remove(): Promise<void> } | undefined;
  afterAll(async () => {
    up?.kill('SIGKILL');
    await up?.exited();
    await dir?.remove();
  });

  it('prints the console\'s URL, serves the built page there with no log-in, and stops on Ctrl-C', async () => {
    dir = await tempDir();
    up = spawnCli(['up', '--workers', '1', '--port', '0', '--metrics-port', '-1', '--http-port', '0', '--data-dir', join(dir.path, 'data')]);
    const proc = up;
    const url = await eventually(() => {
      if (proc.child.exitCode !== null) throw new Error(`up exited:\n${proc.output()}`);
      return /^console: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(proc.output())?.[1];
    }, 60_000, 'up to print the console URL');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/app.js">');
    const script = await fetch(`${url}app.js`);
    expect(script.status).toBe(200);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(5_000);
    expect(await (await fetch(`${url}api/session`)).json()).toEqual({ auth: false, loggedIn: true });
    expect((await fetch(`${url}api/farm`)).status).toBe(200);
    proc.kill('SIGINT');
    expect(await proc.exited()).toBe(0);
  });
});
