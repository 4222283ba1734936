// The job table holds every active job and only the last finished ones: a
// coordinator's memory does not grow with every job it ever ran.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import { tempDir } from '@latentfarm/testkit';
import { coordinatorMetrics } from '../metrics.js';
import { EmbeddedStore } from '../store/embedded.js';
import { newJobId, record, source } from '../store/store.contract.js';
import { FINISHED_KEPT, JobTable } from './job-table.js';

describe('JobTable', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let store: EmbeddedStore;
  beforeEach(async () => {
    dir = await tempDir();
    store = new EmbeddedStore(dir.path);
  });
  afterEach(async () => {
    await store.close();
    await dir.remove();
  });

  it('keeps every active job and the last finished ones in memory; older finished jobs are read from the store', async () => {
    const table = new JobTable(store, coordinatorMetrics(new Registry()));
    const active = newJobId();
    await store.createJob(record(active, 1), source(active, 1));
    const finished: string[] = [];
    for (let i = 0; i <= FINISHED_KEPT; i++) {
      const id = newJobId();
      await store.createJob({ ...record(id, 1), state: JobState.SUCCEEDED }, source(id, 0));
      finished.push(id);
    }
    const [oldest, next] = finished as [string, string];
    expect(table.get(active)?.state).toBe(JobState.QUEUED);
    expect(table.get(oldest)).toBeUndefined();
    expect(table.get(next)?.state).toBe(JobState.SUCCEEDED);
    expect(table.get(finished.at(-1) as string)?.state).toBe(JobState.SUCCEEDED);
    expect((await table.lookup(oldest))?.state).toBe(JobState.SUCCEEDED);
    expect(table.active().map((j) => j.id)).toEqual([active]);
  });
});
