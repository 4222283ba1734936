// SubmitJobStream against a real coordinator process over gRPC: a stream that
// passes the job limit is refused at that entry, and one its client cancels
// midway makes no job; neither leaves anything behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { FarmClient } from '@latentfarm/client';
import type { PromptEntry } from '@latentfarm/proto';
import { spawnCoordinator, tempDir, type CoordinatorProc } from '@latentfarm/testkit';
import { spec } from './farm.js';

const entry = (i: number): PromptEntry => ({ prompt: `prompt ${i}`, negativePrompt: '', images: 1 });

describe('SubmitJobStream on a coordinator process (embedded store)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let coordinator: CoordinatorProc;
  let client: FarmClient;
  beforeAll(async () => {
    dir = await tempDir();
    // Debug: it logs each chunk of a stream as written, which the cancel test waits for.
    coordinator = await spawnCoordinator(['--data-dir', dir.path, '--models', 'sim', '--max-images-per-job', '1000'], { logLevel: 'debug' });
    client = new FarmClient(coordinator.address);
  });
  afterAll(async () => {
    client?.close();
    coordinator?.kill('SIGKILL');
    await coordinator?.exited();
    await dir?.remove();
  });

  it('refuses an endless stream at the first entry past --max-images-per-job, and makes no job', async () => {
    function* endless(): Generator<PromptEntry> {
      for (let i = 0; ; i++) yield entry(i);
    }
    const err = (await client.submitJobStream(spec(), endless(), 100).then(() => undefined, (e: unknown) => e)) as ServiceError;
    expect(status[err.code]).toBe('INVALID_ARGUMENT');
    expect(err.details).toBe('entries[1000]: takes the job past 1000 images, the most one job may have: split it into several jobs');
    expect((await client.listJobs()).jobs).toEqual([]);
  });

  it('makes no job of a stream its client cancels midway', async () => {
    async function* brokenSource(): AsyncGenerator<PromptEntry> {
      for (let i = 0; i < 140; i++) yield entry(i);
      // Two chunks of 70 sent: fail once the coordinator has written both (a cancel before would make no call at all).
      // 140 is a count the other test's chunks of 100 never log, so only this stream's line matches.
      await coordinator.line((l) => (l.includes('streamed prompts written') && l.includes('"prompts":140,') ? true : undefined), 'two chunks written');
      throw new Error('the prompt file could not be read to its end');
    }
    // The SDK cancels the call when its source fails: the chunks already written must not become a job.
    await expect(client.submitJobStream(spec(), brokenSource(), 70)).rejects.toThrow(/could not be read/);
    await coordinator.line((l) => (l.includes('stream submission cancelled or cut off') ? true : undefined), 'the coordinator to see the cancel');
    expect((await client.listJobs()).jobs).toEqual([]);
  });
});
