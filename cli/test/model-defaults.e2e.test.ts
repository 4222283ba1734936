// Defaults that fit the model: workers announce each model's native size and
// scheduler, and a job that sets none gets them; a job that names no model goes
// to the farm's one model. Real coordinator, worker processes, gRPC on loopback.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { ImageFormat, JobState, Scheduler, type JobSpec } from '@latentfarm/proto';
import { decodePng } from '@latentfarm/worker';
import { runCli, tempDir } from '@latentfarm/testkit';
import { collect, prompts, startTestFarm, type TestFarm } from './farm.js';

/** A spec that leaves model, size and scheduler to the farm. */
const bare = (o: Partial<JobSpec> = {}): JobSpec => ({
  model: '', priority: 5, labels: {}, idempotencyKey: '',
  params: { steps: 2, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, seed: 5 },
  ...o,
});
/** Sim workers serving `toy`, announcing it as a 64×48 model with Euler, as a model folder would. */
const toyWorker = { models: ['toy'], extra: ['--sim-native-size', '64x48', '--sim-scheduler', 'euler'] };

async function failure(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: status[e.code], details: e.details };
  }
  throw new Error('expected the call to fail');
}

const submittedId = (output: string): string => {
  const id = /submitted (j[a-z0-9]+)/.exec(output)?.[1];
  if (id === undefined) throw new Error(`no job id in: ${output}`);
  return id;
};

describe('defaults that fit the model (2 sim workers announcing toy at 64×48, euler)', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    // The coordinator's own defaults (512×512, and sim accepted) are what a new user's `serve` has.
    farm = await startTestFarm(2, toyWorker);
  }, 60_000);
  afterAll(async () => farm?.stop());

  it('sends a job with no model and no size to the one model served, at its native size and scheduler', async () => {
    const s = await farm.client.getFarmStatus();
    expect(s.defaultModel).toBe('toy');
    expect(s.models.find((m) => m.name === 'toy')).toEqual({
      name: 'toy', workers: 2, defaultWidth: 64, defaultHeight: 48, defaultScheduler: Scheduler.EULER, native: true,
    });
    const { job } = await farm.client.submitJob(bare(), prompts(2));
    expect(job?.spec?.model).toBe('toy');
    expect(job?.spec?.params).toMatchObject({ width: 64, height: 48, scheduler: Scheduler.EULER });
    const c = await collect(farm.client, job!.id, { referencesOnly: false });
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    for (const img of c.images.values()) {
      expect(img.info.model).toBe('toy');
      expect(img.info.params).toMatchObject({ width: 64, height: 48, scheduler: Scheduler.EULER });
      const png = decodePng(img.data);
      expect([png.width, png.height]).toEqual([64, 48]);
    }
  });

  it('keeps what a job sets and fills only what it leaves unset', async () => {
    const { job } = await farm.client.submitJob(bare({ model: 'toy', params: { ...bare().params!, width: 128, scheduler: Scheduler.DDIM } }), [
      { prompt: 'job size', negativePrompt: '', images: 1 },
      { prompt: 'entry size', negativePrompt: '', images: 1, overrides: { height: 16, scheduler: Scheduler.LCM, outputFormat: ImageFormat.UNSPECIFIED } },
    ]);
    expect(job?.spec?.params).toMatchObject({ width: 128, height: 48, scheduler: Scheduler.DDIM });
    const c = await collect(farm.client, job!.id);
    expect(c.images.get(`${job!.id}/0`)?.info.params).toMatchObject({ width: 128, height: 48, scheduler: Scheduler.DDIM });
    expect(c.images.get(`${job!.id}/1`)?.info.params).toMatchObject({ width: 128, height: 16, scheduler: Scheduler.LCM });
  });

  it('estimates the cost at the native size too', async () => {
    const e = await farm.client.estimateCost({ spec: bare({ params: { ...bare().params!, steps: 150 } }), entries: prompts(1) });
    // One credit is 512×512 at 50 steps.
    expect(e.credits).toBeCloseTo(((64 * 48) / (512 * 512)) * (150 / 50), 6);
  });

  it('answers a model nobody serves with NOT_FOUND that says how to serve it', async () => {
    const f = await failure(farm.client.submitJob(bare({ model: 'shapes-ldm' }), prompts(1)));
    expect(f.code).toBe('NOT_FOUND');
    expect(f.details).toContain('model "shapes-ldm" is not served by this farm (served now: toy)');
    expect(f.details).toContain('start a worker for it (latentfarm worker --engine onnx --model-dir <folder>/shapes-ldm)');
    expect(f.details).toContain('start the coordinator with --models shapes-ldm to accept its jobs before any worker connects');
  });

  it('the CLI sends no model or size of its own, and warns once when the size is far from the native one', async () => {
    const address = farm.coordinator.address;
    const plain = await runCli(['submit', '--coordinator', address, '--prompt', 'x', '--steps', '1']);
    expect(plain.code, plain.output).toBe(0);
    expect(plain.output).not.toMatch(/warning/);
    const job = await farm.client.getJob(submittedId(plain.output));
    expect(job.spec).toMatchObject({ model: 'toy', params: { width: 64, height: 48, scheduler: Scheduler.EULER } });

    const far = await runCli(['submit', '--coordinator', address, '--prompt', 'x', '--steps', '1', '--width', '512', '--height', '512']);
    expect(far.code, far.output).toBe(0);
    expect(far.output).toContain('latentfarm submit: warning: 512×512 is more than 2× off the native size of "toy", 64×48: '
      + 'it renders, but slowly and usually garbled or tiled; leave --width/--height unset for the native size');
    expect((await farm.client.getJob(submittedId(far.output))).spec?.params).toMatchObject({ width: 512, height: 512 });

    // Once per submit, however many entries ask for far sizes; near sizes (within 2×) pass quietly.
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'sizes.jsonl');
      await writeFile(file, ['{"prompt":"a","width":256}', '{"prompt":"b","width":512,"height":512}', '{"prompt":"c","width":32,"height":96}', '{"prompt":"d"}', ''].join('\n'));
      const mixed = await runCli(['submit', '--coordinator', address, '--steps', '1', file]);
      expect(mixed.code, mixed.output).toBe(0);
      expect(mixed.output.match(/warning/g)).toHaveLength(1);
      expect(mixed.output).toContain('warning: 256×48 (and 1 other size) is more than 2× off');
    } finally {
      await dir.remove();
    }
    const near = await runCli(['submit', '--coordinator', address, '--prompt', 'x', '--steps', '1', '--width', '128', '--height', '24']);
    expect(near.code, near.output).toBe(0);
    expect(near.output).not.toMatch(/warning/);

    const st = await runCli(['status', '--coordinator', address]);
    expect(st.output).toContain('model toy: 2 workers, jobs that set no size get 64×48 euler (native), the default model');
  });

  // Last: it adds a second model to the farm.
  it('refuses a job that names no model once several are served, naming them', async () => {
    await farm.addWorker({ models: ['other'], extra: ['--sim-native-size', '32x32'] });
    const f = await failure(farm.client.submitJob(bare(), prompts(1)));
    expect(f).toEqual({
      code: 'INVALID_ARGUMENT',
      details: 'spec.model: missing, and this farm serves several models (toy, other): name one, or start the coordinator with --default-model',
    });
    expect((await farm.client.getFarmStatus()).defaultModel).toBe('');
  });
});

describe('a coordinator started with --models toy and no worker yet (scaling from zero)', () => {
  let farm: TestFarm;
  beforeAll(async () => {
    farm = await startTestFarm(0, {}, { models: ['toy'], defaultWidth: 32, defaultHeight: 24 });
  });
  afterAll(async () => farm?.stop());

  it('accepts a job for it, which waits queued and completes once a worker connects', async () => {
    const before = await farm.client.getFarmStatus();
    expect(before.defaultModel).toBe('toy');
    expect(before.models).toEqual([{ name: 'toy', workers: 0, defaultWidth: 32, defaultHeight: 24, defaultScheduler: Scheduler.UNSPECIFIED, native: false }]);
    // No worker has announced toy's native size, so the job gets the coordinator's defaults.
    const { job } = await farm.client.submitJob(bare(), prompts(3));
    expect(job).toMatchObject({ state: JobState.QUEUED, spec: { model: 'toy', params: { width: 32, height: 24 } } });
    await farm.addWorker(toyWorker);
    const c = await collect(farm.client, job!.id);
    expect(c.states.at(-1)).toBe(JobState.SUCCEEDED);
    expect(c.images.size).toBe(3);
    expect([...c.images.values()].map((i) => [i.info.params?.width, i.info.params?.height])).toEqual([[32, 24], [32, 24], [32, 24]]);
  });
});

describe('sim workers announcing a native size', () => {
  it('refuse a size that is not WxH in multiples of 8 at start, with one line and exit 2', async () => {
    const r = await runCli(['worker', '--engine', 'sim', '--metrics-port', '-1', '--sim-native-size', '60x64']);
    expect(r.code).toBe(2);
    expect(r.output.trim()).toBe('latentfarm worker: --sim-native-size: "60x64" is not WxH with both multiples of 8 (e.g. 64x64)');
  });
});

describe('latentfarm up with the onnx engine, no model and no size given', () => {
  it('renders the bundled model at its native 64×64', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'prompts.txt');
      await writeFile(file, 'a red circle on a blue background\n');
      const out = join(dir.path, 'out');
      const r = await runCli(['up', '--engine', 'onnx', '--workers', '1', '--threads', '1', '--port', '0', '--metrics-port', '-1',
        '--data-dir', join(dir.path, 'data'), '--prompts', file, '--out', out, '--steps', '2', '--seed', '1']);
      expect(r.code, r.output).toBe(0);
      const [png] = (await readdir(out)).filter((f) => f.endsWith('.png'));
      const img = decodePng(await readFile(join(out, png ?? '')));
      expect([img.width, img.height]).toEqual([64, 64]);
      expect(img.text).toMatchObject({ model: 'shapes-ldm', sampler: 'ddim' });
    } finally {
      await dir.remove();
    }
  });
});
