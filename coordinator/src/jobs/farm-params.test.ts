// What a submitted job's parameters become on the wire to a worker, driven
// through the Farm with fake worker links (as farm.test.ts does).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, Registry, createLogger } from '@latentfarm/common';
import { ImageFormat, MAX_SEED, Scheduler, type ConnectResponse, type GenerationParams, type Hello, type PromptEntry, type Task } from '@latentfarm/proto';
import { defaultCoordinatorConfig } from '../config.js';
import { Farm } from '../farm/farm.js';
import { embeddedAccounts } from '../farm/farm.fixture.js';
import { LOCAL_ADMIN as P } from '../farm/principal.js';
import { coordinatorMetrics } from '../metrics.js';
import { FairShare } from '../scheduling/fair-share.js';
import { EmbeddedStore } from '../store/embedded.js';

const hello = (id: string): Hello => ({ workerId: id, models: ['sim'], maxBatch: 8, provider: 'sim', device: '', engine: 'sim', version: '', modelDefaults: [] });
const params = (p: Partial<GenerationParams> = {}): GenerationParams => ({ scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, steps: 2, ...p });

function link() {
  const sent: ConnectResponse[] = [];
  return {
    send(m: ConnectResponse) { sent.push(m); },
    close() {},
    leased(): Task[] { return sent.flatMap((m) => (m.message?.$case === 'lease' ? m.message.value.tasks : [])); },
  };
}

describe('job parameters through the farm', () => {
  let dir: string;
  let farm: Farm;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'farm-params-'));
    const store = new EmbeddedStore(dir);
    farm = new Farm(defaultCoordinatorConfig({ dataDir: dir }), store, coordinatorMetrics(new Registry()), createLogger('t', 'silent'), new FairShare(), embeddedAccounts(store));
  });
  afterEach(async () => {
    farm.close();
    await rm(dir, { recursive: true, force: true });
  });

  const submit = (p: Partial<GenerationParams>, entries: PromptEntry[]) =>
    farm.submit(P, { model: 'sim', priority: 0, labels: {}, idempotencyKey: '', params: params(p) }, entries);
  const prompt = (e: Partial<PromptEntry> = {}): PromptEntry => ({ prompt: 'p', negativePrompt: '', images: 1, ...e });

  it('refuses a seed in an entry\'s overrides and accepts nothing', async () => {
    const rejected = submit({ seed: 1 }, [prompt(), prompt({ overrides: params({ seed: 9 }) })]);
    await expect(rejected).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(rejected).rejects.toThrow(/entries\[1\]\.overrides\.seed: not allowed/);
    expect((await farm.list(P, { pageSize: 0, pageToken: '', states: [], labels: {} })).jobs).toEqual([]);
  });

  it('sends workers seeds that count up from the job seed and wrap at 2^32', async () => {
    await submit({ seed: MAX_SEED - 1, width: 64, height: 64 }, [prompt({ images: 3 }), prompt({ images: 2, seed: 5 })]);
    const a = link();
    farm.grantCredit(farm.attachWorker(P, hello('a'), a), 8);
    await farm.settled();
    const seeds = a.leased().sort((x, y) => Number(x.taskId.split('/')[1]) - Number(y.taskId.split('/')[1])).map((t) => t.params?.seed);
    expect(seeds).toEqual([MAX_SEED - 1, MAX_SEED, 0, 5, 6]);
  });

  it('keeps a worker\'s leases in one size when a job\'s entries set a size other than its spec\'s', async () => {
    // Submitted in this order, at equal shares: the entries of `sized` all render 128×128 although its spec says 64×64.
    const sized = await submit({ width: 64, height: 64 }, [prompt({ images: 2, overrides: params({ width: 128, height: 128 }) })]);
    const big = await submit({ width: 128, height: 128 }, [prompt({ images: 2 })]);
    await submit({ width: 64, height: 64 }, [prompt({ images: 2 })]);
    const a = link();
    farm.grantCredit(farm.attachWorker(P, hello('a'), a), 4);
    await farm.settled();
    const leased = a.leased();
    expect(leased.map((t) => `${t.params?.width}x${t.params?.height}`)).toEqual(['128x128', '128x128', '128x128', '128x128']);
    expect(new Set(leased.map((t) => t.jobId))).toEqual(new Set([sized.job.id, big.job.id]));
  });
});
