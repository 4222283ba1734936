// `latentfarm watch`, `submit --watch`, `get`, `list` and `status` as a user
// runs them: CLI processes against a live farm over real gRPC on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, type WatchJobResponse } from '@latentfarm/proto';
import { runCli, tempDir } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';

/** Every `N/T images` a progress bar printed. */
const barCounts = (output: string): [number, number][] =>
  [...output.matchAll(/ (\d+)\/(\d+) images/g)].map((m) => [Number(m[1]), Number(m[2])]);

const jsonLines = (output: string): Record<string, unknown>[] =>
  output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the CLI watching jobs', () => {
  let farm: TestFarm;
  let address: string;
  let finished: { id: string; last: number };
  beforeAll(async () => {
    farm = await startTestFarm(1);
    address = farm.coordinator.address;
    const { job } = await farm.client.submitJob(spec(), prompts(1, 16));
    await collect(farm.client, job!.id);
    const done = await farm.client.getJob(job!.id);
    expect(done.state).toBe(JobState.SUCCEEDED);
    finished = { id: done.id, last: done.lastSequence };
  }, 60_000);
  afterAll(async () => farm?.stop());

  it('WatchJob after the last event of a finished job ends at once, with nothing to send', async () => {
    const call = farm.client.raw.watchJob({ jobId: finished.id, afterSequence: finished.last, referencesOnly: true, noProgress: true });
    const got: WatchJobResponse[] = [];
    for await (const m of call as AsyncIterable<WatchJobResponse>) got.push(m);
    expect(got).toEqual([]);
  });

  it('watch --after <last sequence> of a finished job ends at once with its final state', async () => {
    const r = await runCli(['watch', finished.id, '--coordinator', address, '--after', String(finished.last)]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(`${finished.id} SUCCEEDED: 16/16 done, 0 failed (last sequence ${finished.last})`);
  });

  it('watch --after 15 of a 16-image job counts from the job, never past 16/16', async () => {
    const r = await runCli(['watch', finished.id, '--coordinator', address, '--after', '15']);
    expect(r.code, r.output).toBe(0);
    const counts = barCounts(r.output);
    expect(counts.length, r.output).toBeGreaterThan(0);
    expect(counts.every(([n, total]) => total === 16 && n <= 16), r.output).toBe(true);
    expect(counts.at(-1)).toEqual([16, 16]);
  });

  it('a resumed watch of a running job ends with the right count and nothing over the total', async () => {
    const slow = spec({ params: { ...spec().params!, steps: 30 } });
    const { job } = await farm.client.submitJob(slow, prompts(40));
    const first = await collect(farm.client, job!.id, { stopAfter: 5 });
    const r = await runCli(['watch', job!.id, '--coordinator', address, '--after', String(first.lastSequence)]);
    expect(r.code, r.output).toBe(0);
    expect(barCounts(r.output).every(([n]) => n <= 40), r.output).toBe(true);
    expect(r.output).toContain(`${job!.id} SUCCEEDED: 40/40 done`);
  });

  it('image into a folder that does not exist is one line naming the file, exit 2', async () => {
    const r = await runCli(['image', `${finished.id}/0`, '/nonexistent-folder/x.png', '--coordinator', address]);
    expect(r.code, r.output).toBe(2);
    expect(r.output.trim()).toBe('latentfarm image: /nonexistent-folder/x.png: no such file or directory');
  });

  it('watch --json prints each event as a WatchJob message (enum names), then the final job', async () => {
    const r = await runCli(['watch', finished.id, '--coordinator', address, '--json']);
    expect(r.code, r.output).toBe(0);
    const lines = jsonLines(r.output);
    // QUEUED, RUNNING, 16 images, SUCCEEDED, and the job.
    expect(lines).toHaveLength(20);
    expect(lines[0]).toMatchObject({ sequence: 1, state: { state: 'JOB_STATE_QUEUED' } });
    expect(lines.filter((l) => 'image' in l)).toHaveLength(16);
    expect(lines[3]).toMatchObject({ image: { info: { finishReason: 'FINISH_REASON_SUCCESS', mimeType: 'image/png' } } });
    expect(lines.at(-2)).toMatchObject({ sequence: finished.last, state: { state: 'JOB_STATE_SUCCEEDED', images: { total: 16, succeeded: 16 } } });
    expect(lines.at(-1)).toMatchObject({ job: { id: finished.id, state: 'JOB_STATE_SUCCEEDED', lastSequence: finished.last } });
  });

  it('submit --watch --json ends with the final job as JSON too', async () => {
    const out = await tempDir();
    const r = await runCli(['submit', '--coordinator', address, '--prompt', 'a red circle', '--images', '3', '--steps', '2',
      '--width', '64', '--height', '64', '--watch', '--json', '--out', out.path]);
    await out.remove();
    expect(r.code, r.output).toBe(0);
    const lines = jsonLines(r.output);
    expect(lines[0]).toMatchObject({ created: true, job: { state: 'JOB_STATE_QUEUED', images: { total: 3 } } });
    expect(lines.at(-1)).toMatchObject({ job: { state: 'JOB_STATE_SUCCEEDED', images: { total: 3, succeeded: 3 } } });
  });

  it('get, status and list --json use the proto3 JSON mapping (enum names, lowerCamel fields)', async () => {
    const get = await runCli(['get', finished.id, '--coordinator', address, '--json']);
    expect(jsonLines(get.output)[0]).toMatchObject({ job: { id: finished.id, state: 'JOB_STATE_SUCCEEDED', spec: { params: { outputFormat: 'IMAGE_FORMAT_PNG' } } } });
    const status = await runCli(['status', '--coordinator', address, '--json']);
    expect(jsonLines(status.output)[0]).toMatchObject({ workers: [{ engine: 'sim', maxBatch: 8 }] });
    const list = await runCli(['list', '--coordinator', address, '--json']);
    const page = jsonLines(list.output)[0] as { jobs: { state: string }[] };
    expect(page.jobs.length).toBeGreaterThan(0);
    expect(page.jobs.every((j) => j.state.startsWith('JOB_STATE_'))).toBe(true);
  });
});

describe('the CLI listing many jobs', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    farm = await startTestFarm(0);
  }, 60_000);
  afterAll(async () => farm?.stop());

  it('list pages with --page-size and --page-token, and says how to get the next page', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await farm.client.submitJob(spec(), prompts(1))).job!.id);
    const address = farm.coordinator.address;
    const shown: string[] = [];
    let args = ['list', '--coordinator', address, '--page-size', '2'];
    for (let page = 0; page < 5; page++) {
      const r = await runCli(args);
      expect(r.code, r.output).toBe(0);
      shown.push(...[...r.output.matchAll(/^(j\w+) {2}QUEUED/gm)].map((m) => m[1] as string));
      const next = /more jobs: latentfarm list --page-token (\S+) --page-size 2/.exec(r.output);
      if (next === null) break;
      args = ['list', '--coordinator', address, '--page-size', '2', '--page-token', next[1] as string];
    }
    // Newest first, each once, all of them, in three pages.
    expect(shown).toEqual([...ids].reverse());
  });
});
