// Client commands when something is wrong: a coordinator that is down or
// restarting, files that do not exist, addresses that are not addresses.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig, startCoordinator, type Coordinator } from '@latentfarm/coordinator';
import { eventually, runCli, spawnCli, tempDir } from '@latentfarm/testkit';
import { FarmClient } from '@latentfarm/client';

function oneLine(output: string, re: RegExp): void {
  const lines = output.trim().split('\n');
  expect(lines, output).toHaveLength(1);
  expect(lines[0], output).toMatch(re);
}

const start = (port: number, dataDir: string): Promise<Coordinator> =>
  startCoordinator(defaultCoordinatorConfig({ port, metricsPort: -1, dataDir, noAuth: true }), { log: createLogger('test', 'silent'), registry: new Registry() });

describe('client commands with the coordinator down or restarting', () => {
  let dir: { path: string; remove(): Promise<void> };
  let address: string;
  let port: number;
  let coordinator: Coordinator | undefined;
  beforeAll(async () => {
    dir = await tempDir();
    // A coordinator's port, learned by starting it once; it is stopped, so nothing listens there now.
    const once = await start(0, join(dir.path, 'data'));
    port = once.port;
    address = once.address;
    await once.close();
  });
  afterAll(async () => {
    await coordinator?.close();
    await dir?.remove();
  });

  it('says which address was tried, why, and what to check', async () => {
    const r = await runCli(['status', '--coordinator', address]);
    expect(r.code, r.output).toBe(1);
    oneLine(r.output, new RegExp(`^latentfarm status: cannot reach the coordinator at 127\\.0\\.0\\.1:${port}: connection refused — ` +
      'is `latentfarm serve` \\(or `latentfarm up`\\) running there\\? Set --coordinator or LATENTFARM_COORDINATOR'));
  });

  it('a submit waits out a coordinator restart (saying so once) and makes exactly one job', async () => {
    const submit = spawnCli(['submit', '--coordinator', address, '--model', 'sim', '--prompt', 'a red circle', '--images', '2', '--deadline-ms', '300000']);
    await eventually(() => /retrying SubmitJob \(idempotency key cli-[0-9a-f-]+, so it cannot make two jobs\) until the deadline/.test(submit.output()),
      60_000, `the submit to say it retries\n${submit.output()}`);
    coordinator = await start(port, join(dir.path, 'data'));
    const code = await submit.exited();
    expect(code, submit.output()).toBe(0);
    expect(submit.output().match(/retrying/g), submit.output()).toHaveLength(1);
    const id = /^submitted (j\w+): 2 images/m.exec(submit.output())?.[1];
    const client = new FarmClient(coordinator.address);
    try {
      const jobs = (await client.listJobs({})).jobs;
      expect(jobs.map((j) => j.id)).toEqual([id]);
      expect(jobs[0]?.spec?.idempotencyKey).toMatch(/^cli-/);
    } finally {
      client.close();
    }
  });
});

describe('client commands given files that are not there', () => {
  it('submit, estimate and watch --out name the file in one line and exit 2', async () => {
    const dir = await tempDir();
    try {
      const submit = await runCli(['submit', join(dir.path, 'missing.txt')]);
      expect(submit.code, submit.output).toBe(2);
      oneLine(submit.output, /^latentfarm submit: .*missing\.txt: no such file or directory$/);
      const folder = await runCli(['estimate', dir.path]);
      expect(folder.code, folder.output).toBe(2);
      oneLine(folder.output, /^latentfarm estimate: .*: is a folder, not a file$/);
      const file = join(dir.path, 'a-file');
      await writeFile(file, '');
      const out = await runCli(['submit', '--prompt', 'x', '--watch', '--out', join(file, 'sub')]);
      expect(out.code, out.output).toBe(2);
      oneLine(out.output, /^latentfarm submit: --out: .*a-file.*: (a part of the path is not a folder|already exists and is not a folder)$/);
    } finally {
      await dir.remove();
    }
  });

  it('a coordinator address that is not host:port is one line, exit 2', async () => {
    const r = await runCli(['list', '--coordinator', 'localhost']);
    expect(r.code, r.output).toBe(2);
    oneLine(r.output, /^latentfarm list: --coordinator: "localhost" is not host:port/);
  });
});
