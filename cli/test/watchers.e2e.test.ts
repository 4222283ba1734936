// Fifty clients watch one job on JetStream with the images inline: every one
// gets every image, nats-server's memory stays bounded, and the reads leave no
// consumer behind (issue 12: one watcher of a 2,000-image job used to leave
// 2,003 consumers, fifty took nats-server to 6.4 GB and every watch failed).
import { describe, expect, it } from 'vitest';
import { JobState } from '@latentfarm/proto';
import { eventually } from '@latentfarm/testkit';
import type { FarmClient } from '@latentfarm/client';
import { prompts } from './farm.js';
import { jobSpec, startDurableFarm, stopsAfterEachTest, workersConnected, TEST_BUDGET_MS, WORKER } from './durability.js';

const IMAGES = 2000;
const WATCHERS = 50;
const MAX_NATS_RSS = 500 * 1024 * 1024;

interface Watched { images: number; duplicates: number; bytes: number; final: JobState | undefined; endedAtMs: number }

/** One watcher with images inline; a dropped stream fails it (no resume: a read the store could not serve shows). */
async function watchInline(client: FarmClient, jobId: string): Promise<Watched> {
  const seen = new Set<number>();
  const w: Watched = { images: 0, duplicates: 0, bytes: 0, final: undefined, endedAtMs: 0 };
  for await (const ev of client.watch(jobId, { noProgress: true, resume: false })) {
    if (ev.type === 'image') {
      if (seen.has(ev.info.index)) w.duplicates++;
      seen.add(ev.info.index);
      w.images = seen.size;
      w.bytes += ev.data.length;
    } else if (ev.type === 'state') {
      w.final = ev.state;
      w.endedAtMs = Date.now();
    }
  }
  return w;
}

describe(`${WATCHERS} watchers of one ${IMAGES}-image job on JetStream, images inline`, () => {
  const stopped = stopsAfterEachTest();

  it('all get every image once, nats-server stays under 500 MB, and the consumers are back to where they started after the job', async () => {
    const f = stopped(await startDurableFarm());
    const c = f.coordinators[0]!;
    const workers = [0, 1, 2, 3].map((i) => f.addWorker(c, { ...WORKER, id: `w${i}` }));
    await workersConnected(c, workers);
    const before = await f.nats.consumers();
    let maxRss = await f.nats.residentBytes();
    // Sampled while the job runs: the bound must hold throughout, not only at the end.
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxRss = Math.max(maxRss, await f.nats.residentBytes().catch(() => 0));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const { job } = await c.client.submitJob(jobSpec({ params: { ...jobSpec().params!, width: 128, height: 128 } }), prompts(IMAGES));
    const watched = await Promise.all(Array.from({ length: WATCHERS }, () => watchInline(c.client, job!.id)));
    sampling = false;
    await sampler;
    const endedAt = Math.min(...watched.map((w) => w.endedAtMs));
    for (const w of watched) expect(w).toMatchObject({ images: IMAGES, duplicates: 0, final: JobState.SUCCEEDED });
    expect(watched.every((w) => w.bytes > 0)).toBe(true);
    expect(maxRss, `nats-server's largest RSS, ${(maxRss / 2 ** 20).toFixed(0)} MB`).toBeLessThan(MAX_NATS_RSS);
    // Back where they started (the job's task consumer and every read's are gone). Awaited, not assumed: the
    // time it took is printed, and only a generous deadline fails the test.
    const atEnd = await f.nats.jetstreamState();
    await eventually(async () => (await f.nats.consumers()) === before, 60_000, `consumers back to ${before}`);
    const took = Date.now() - endedAt;
    process.stdout.write(`${WATCHERS} watchers: nats-server RSS at most ${(maxRss / 2 ** 20).toFixed(0)} MB; consumers back to ${before} ${(took / 1000).toFixed(1)} s after the job ended\n`);
    if (took > 5_000) process.stdout.write(`streams and consumers when the watchers were done:\n${atEnd}\n`);
  }, TEST_BUDGET_MS);
});
