// Many watchers of one job: each image is read from the store at most once per
// coordinator (never by the one that committed it), and every watcher still
// gets every image's bytes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultCoordinatorConfig } from '../config.js';
import { coordinatorMetrics } from '../metrics.js';
import { FairShare } from '../scheduling/fair-share.js';
import { EmbeddedStore } from '../store/embedded.js';
import { Farm } from './farm.js';
import { embeddedAccounts, hello, link, prompts, result, spec, tagOf } from './farm.fixture.js';
import { LOCAL_ADMIN as P } from './principal.js';
import { SharedImageReads } from './shared-image-reads.js';

const IMAGES = 8;
const WATCHERS = 20;

describe('image reads shared by the watchers of a job', () => {
  it(`reads no image back where it was committed, each once elsewhere, for ${WATCHERS} watchers, and gives each watcher every image`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shared-reads-'));
    const store = new EmbeddedStore(dir);
    // The real store, with its reads counted.
    const reads = new Map<string, number>();
    const read = store.getImage.bind(store);
    store.getImage = (id) => {
      reads.set(id, (reads.get(id) ?? 0) + 1);
      return read(id);
    };
    const farm = new Farm(defaultCoordinatorConfig({ dataDir: dir }), store, coordinatorMetrics(new Registry()), createLogger('t', 'silent'), new FairShare(), embeddedAccounts(store));
    try {
      const { job } = await farm.submit(P, spec(), prompts(IMAGES));
      const watch = async (): Promise<string[]> => {
        const got: string[] = [];
        for await (const e of farm.events(P, job.id, 0, new AbortController().signal, { images: true, progress: false })) {
          if (e.kind === 'image') got.push(tagOf(e.data));
        }
        return got;
      };
      // Half watch while the images are committed, half start once they all are.
      const live = Array.from({ length: WATCHERS / 2 }, watch);
      const w = link();
      const s = farm.attachWorker(P, hello('w'), w);
      farm.grantCredit(s, IMAGES);
      await farm.settled();
      for (const t of w.leased()) await farm.acceptResult(s, result(t, `image ${t.taskId}`));
      await farm.settled();
      const replaying = Array.from({ length: WATCHERS / 2 }, watch);
      const all = await Promise.all([...live, ...replaying]);
      const want = Array.from({ length: IMAGES }, (_, i) => `image ${job.id}/${i}`);
      for (const got of all) expect([...got].sort()).toEqual([...want].sort());
      // The coordinator that committed the images kept them: its watchers read none back.
      expect(reads.size, 'store reads on the committing coordinator').toBe(0);
      // Another coordinator on the same store reads each image once for all its watchers.
      const other = new Farm(defaultCoordinatorConfig({ dataDir: dir }), store, coordinatorMetrics(new Registry()), createLogger('t', 'silent'), new FairShare(), embeddedAccounts(store));
      try {
        const theirs = await Promise.all(Array.from({ length: WATCHERS }, async () => {
          const got: string[] = [];
          for await (const e of other.events(P, job.id, 0, new AbortController().signal, { images: true, progress: false })) {
            if (e.kind === 'image') got.push(tagOf(e.data));
          }
          return got;
        }));
        for (const got of theirs) expect([...got].sort()).toEqual([...want].sort());
        expect([...reads.values()], 'store reads per image').toEqual(Array.from({ length: IMAGES }, () => 1));
      } finally {
        other.close();
      }
    } finally {
      farm.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps recent images within its byte budget and shares reads under way', async () => {
    let n = 0;
    const pending: (() => void)[] = [];
    const store = {
      getImage: (id: string) => new Promise<{ data: Uint8Array; mimeType: string }>((resolve) => {
        n++;
        pending.push(() => resolve({ data: new Uint8Array(Number(id.split('/')[1])), mimeType: 'image/png' }));
      }),
    };
    const shared = new SharedImageReads(store, 100);
    const both = Promise.all([shared.get('j/10'), shared.get('j/10')]);
    expect(n).toBe(1);
    for (const p of pending.splice(0)) p();
    await both;
    await shared.get('j/10');
    expect(n).toBe(1);
    // Over 25 bytes (a quarter of the budget) is not kept; the oldest go first once the budget is full.
    for (const id of ['j/24', 'j/24', 'j/26', 'j/26']) {
      const got = shared.get(id);
      for (const p of pending.splice(0)) p();
      await got;
    }
    expect(n).toBe(4);
    for (const id of ['j/20', 'j/21', 'j/22', 'j/23']) {
      const got = shared.get(id);
      for (const p of pending.splice(0)) p();
      await got;
    }
    n = 0;
    await Promise.all(['j/21', 'j/22', 'j/23'].map((id) => shared.get(id)));
    expect(n).toBe(0);
    const again = shared.get('j/10');
    for (const p of pending.splice(0)) p();
    await again;
    expect(n).toBe(1);
  });
  it('gives the committed bytes to a watcher while the commit is under way; after a lost or failed commit, what the store has', async () => {
    let storeReads = 0;
    let storeUp = true;
    const shared = new SharedImageReads({
      getImage: () => {
        storeReads++;
        return storeUp ? Promise.resolve({ data: new Uint8Array([9]), mimeType: 'image/png' }) : Promise.reject(new Error('store unreachable'));
      },
    });
    const mine = { data: new Uint8Array([1]), mimeType: 'image/png' };
    let won: (w: boolean) => void = () => undefined;
    shared.committing('j/0', mine, new Promise<boolean>((resolve) => { won = resolve; }));
    const asked = shared.get('j/0');
    won(true);
    expect(await asked).toBe(mine);
    expect(storeReads).toBe(0);
    // Another commit won: the store's image, not this one's.
    shared.committing('j/1', mine, Promise.resolve(false));
    expect((await shared.get('j/1'))?.data).toEqual(new Uint8Array([9]));
    // The commit failed while the store is unreachable and no watcher asks: nothing is left unhandled (vitest fails
    // the run on an unhandled rejection); one that asks sees the failure.
    storeUp = false;
    shared.committing('j/2', mine, Promise.reject(new Error('commit timed out')));
    shared.committing('j/3', mine, Promise.reject(new Error('commit timed out')));
    await expect(shared.get('j/3')).rejects.toThrow('store unreachable');
    await new Promise((r) => setImmediate(r));
  });
});
