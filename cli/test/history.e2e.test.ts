// History as a user sees it: `latentfarm list` filtered by time and label a
// page at a time, and a coordinator with a short --retain-for that expires
// finished jobs (with their images) and leaves queued ones, however old.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { eventually, runCli } from '@latentfarm/testkit';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';

const listed = (output: string): string[] => [...output.matchAll(/^(j\w+) {2}/gm)].map((m) => m[1] as string);

describe('latentfarm list: by time and label, a page at a time', () => {
  let farm: TestFarm;
  let address: string;
  beforeAll(async () => {
    farm = await startTestFarm(0);
    address = farm.coordinator.address;
  }, 60_000);
  afterAll(async () => farm?.stop());

  it('filters by --label and --since, pages with --page-size and --page-token, and prints the next page\'s command', async () => {
    const submit = async (labels: Record<string, string>) => (await farm.client.submitJob(spec({ labels }), prompts(1))).job!;
    const early = await submit({ team: 'red' });
    const red: string[] = [];
    for (let i = 0; i < 3; i++) red.push((await submit({ team: 'red', run: String(i) })).id);
    await submit({ team: 'blue' });
    const since = new Date((await farm.client.getJob(red[0] as string)).createdUnixMs).toISOString();

    const shown: string[] = [];
    let args = ['list', '--coordinator', address, '--label', 'team=red', '--since', since, '--page-size', '2'];
    for (let page = 0; page < 4; page++) {
      const r = await runCli(args);
      expect(r.code, r.output).toBe(0);
      shown.push(...listed(r.output));
      const next = /more jobs: latentfarm list --page-token (\S+) --page-size 2 --since (\S+) --label team=red/.exec(r.output);
      if (next === null) break;
      args = ['list', '--coordinator', address, '--page-token', next[1] as string, '--page-size', '2', '--since', next[2] as string, '--label', 'team=red'];
    }
    // Newest first; the early red job is before --since, the blue one has the wrong label.
    expect(shown, JSON.stringify({ red, early: early.id })).toEqual([...red].reverse());
    const all = await runCli(['list', '--coordinator', address, '--since', '2h', '--label', 'team=red']);
    expect(listed(all.output), all.output).toEqual([early.id, ...red].reverse());
  });

  it('answers bad filters with one line and exit 2, and a token it never gave with INVALID_ARGUMENT', async () => {
    for (const bad of [['--since', 'yesterday'], ['--since', '2999-01-01T00:00Z'], ['--label', 'team'], ['--page-size', '0']]) {
      const r = await runCli(['list', '--coordinator', address, ...bad]);
      expect(r.code, r.output).toBe(2);
      expect(r.output.trim().split('\n'), r.output).toHaveLength(1);
    }
    const r = await runCli(['list', '--coordinator', address, '--page-token', 'bm90IGEgdG9rZW4']);
    expect(r.code, r.output).toBe(1);
    expect(r.output.trim()).toMatch(/^latentfarm list: INVALID_ARGUMENT: page_token: .* is not a token this server gave out$/);
    await expect(farm.client.listJobs({ createdAfterUnixMs: Date.now() + 3_600_000 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  });
});

describe('a coordinator with a short --retain-for', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    // 'later' is accepted but served by no worker: its job stays queued however old it gets.
    farm = await startTestFarm(1, {}, { retainFor: 1_000, models: ['sim', 'later'] });
  }, 60_000);
  afterAll(async () => farm?.stop());

  it('expires a finished job and its images after the retention, and keeps a queued job older than that', async () => {
    const queued = (await farm.client.submitJob(spec({ model: 'later' }), prompts(1))).job!;
    const done = (await farm.client.submitJob(spec(), prompts(2))).job!;
    await collect(farm.client, done.id);
    expect((await farm.client.getJob(done.id)).state).toBe(JobState.SUCCEEDED);
    expect((await farm.client.getImage(`${done.id}/0`)).data.length).toBeGreaterThan(0);

    // The sweeper runs every 250 ms: the job goes about a second after it finished.
    await eventually(async () => (await farm.client.getJob(done.id).then(() => false, (err: { code?: number }) => err.code === status.NOT_FOUND)), 30_000, 'the finished job to expire');
    await expect(farm.client.getImage(`${done.id}/0`)).rejects.toMatchObject({ code: status.NOT_FOUND });
    const page = await farm.client.listJobs({});
    expect(page.jobs.map((j) => j.id)).not.toContain(done.id);
    expect(page.jobs.map((j) => j.id)).toContain(queued.id);
    // Older than the retention by now, and still there: only finished jobs expire.
    const q = await farm.client.getJob(queued.id);
    expect(q.state).toBe(JobState.QUEUED);
    expect(Date.now() - q.createdUnixMs).toBeGreaterThan(1_000);
  });
});
