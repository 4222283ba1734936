// Every bad request gets a clear message and the fitting gRPC status, and
// nothing already accepted is lost or altered.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { ImageFormat, Scheduler} from '@latentfarm/proto';
import { type GenerationParams, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { runCli, tempDir } from '@latentfarm/testkit';
import { prompts, spec, startTestFarm, type TestFarm } from './farm.js';

async function codeOf(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

const withParams = (p: Partial<GenerationParams>): JobSpec => spec({ params: { ...spec().params!, ...p } });

describe('bad input', () => {
  let farm: TestFarm;
  let acceptedId: string;
  beforeAll(async () => {
    farm = await startTestFarm(0, {}, { maxImagesPerJob: 5000, maxQueuedImages: 6000, maxPromptChars: 100, maxWidth: 1024, maxHeight: 1024 });
    // Accepted before the bad requests; no worker, so it waits untouched.
    acceptedId = (await farm.client.submitJob(spec(), prompts(5))).job!.id;
  });
  afterAll(async () => farm?.stop());

  const cases: [string, () => Promise<unknown>, number, RegExp][] = [
    ['empty prompt list', () => farm.client.submitJob(spec(), []), status.INVALID_ARGUMENT, /entries: empty/],
    ['empty prompt', () => farm.client.submitJob(spec(), [{ prompt: '  ', negativePrompt: '', images: 1 }]), status.INVALID_ARGUMENT, /entries\[0\]\.prompt: empty/],
    ['width not a multiple of 8', () => farm.client.submitJob(withParams({ width: 100 }), prompts(1)), status.INVALID_ARGUMENT, /spec\.params\.width: 100 is not a positive multiple of 8/],
    ['height over the maximum', () => farm.client.submitJob(withParams({ height: 4096 }), prompts(1)), status.INVALID_ARGUMENT, /spec\.params\.height: 4096 is above the maximum 1024/],
    ['steps out of range', () => farm.client.submitJob(withParams({ steps: 1000 }), prompts(1)), status.INVALID_ARGUMENT, /steps: 1000 is out of range 1\.\.150/],
    ['cfg out of range', () => farm.client.submitJob(withParams({ cfgScale: 99 }), prompts(1)), status.INVALID_ARGUMENT, /cfg_scale: 99 is out of range/],
    ['unknown scheduler', () => farm.client.submitJob(withParams({ scheduler: 42 as Scheduler }), prompts(1)), status.INVALID_ARGUMENT, /unknown scheduler 42/],
    ['unknown format', () => farm.client.submitJob(withParams({ outputFormat: 9 as ImageFormat }), prompts(1)), status.INVALID_ARGUMENT, /unknown format 9/],
    ['unknown model', () => farm.client.submitJob(spec({ model: 'sd-9000' }), prompts(1)), status.NOT_FOUND, /model "sd-9000" is not served/],
    ['missing model', () => farm.client.submitJob(spec({ model: '' }), prompts(1)), status.INVALID_ARGUMENT, /spec\.model: missing/],
    ['priority out of range', () => farm.client.submitJob(spec({ priority: 11 }), prompts(1)), status.INVALID_ARGUMENT, /priority: 11 is out of range/],
    ['too many images in one job', () => farm.client.submitJob(spec(), prompts(2, 3000)), status.INVALID_ARGUMENT, /6000 images in one job, at most 5000/],
    ['queue full', () => farm.client.submitJob(spec(), prompts(1, 4000)).then(() => farm.client.submitJob(spec(), prompts(1, 4000))), status.RESOURCE_EXHAUSTED, /queue is full/],
    ['oversized prompt', () => farm.client.submitJob(spec(), [{ prompt: 'x'.repeat(101), negativePrompt: '', images: 1 }]), status.INVALID_ARGUMENT, /101 characters, at most 100/],
    ['oversized negative prompt', () => farm.client.submitJob(spec(), [{ prompt: 'x', negativePrompt: 'y'.repeat(500), images: 1 }]), status.INVALID_ARGUMENT, /negative_prompt: 500 characters/],
    ['bad entry override', () => farm.client.submitJob(spec(), [{ prompt: 'ok', negativePrompt: '', images: 1 }, { prompt: 'x', negativePrompt: '', images: 1, overrides: { width: 12, scheduler: 0, outputFormat: 0 } }]), status.INVALID_ARGUMENT, /entries\[1\]\.overrides\.width/],
    ['seed in an entry\'s overrides', () => farm.client.submitJob(spec(), [{ prompt: 'ok', negativePrompt: '', images: 1, overrides: { seed: 3, scheduler: 0, outputFormat: 0 } }]), status.INVALID_ARGUMENT, /entries\[0\]\.overrides\.seed: not allowed: set the entry's own seed \(entries\[0\]\.seed\)/],
    ['seed in an entry\'s overrides, estimated', () => farm.client.estimateCost({ spec: spec(), entries: [{ prompt: 'ok', negativePrompt: '', images: 1, overrides: { seed: 3, scheduler: 0, outputFormat: 0 } }] }), status.INVALID_ARGUMENT, /entries\[0\]\.overrides\.seed: not allowed/],
    ['bad entry in a stream', () => farm.client.submitJobStream(spec(), [...prompts(1500), { prompt: '', negativePrompt: '', images: 1 }], 500), status.INVALID_ARGUMENT, /entries\[1500\]\.prompt: empty/],
    ['unknown job (get)', () => farm.client.getJob('jnope'), status.NOT_FOUND, /job "jnope" does not exist/],
    ['unknown job (cancel)', () => farm.client.cancelJob('jnope'), status.NOT_FOUND, /does not exist/],
    ['unknown job (watch)', async () => { for await (const _ of farm.client.watch('jnope')) { /* none */ } }, status.NOT_FOUND, /does not exist/],
    ['malformed image id', () => farm.client.getImage('../../etc/passwd'), status.INVALID_ARGUMENT, /not an image id/],
    ['image index out of range', () => farm.client.getImage(`${acceptedId}/99`), status.NOT_FOUND, /has 5 images/],
    ['image not rendered yet', () => farm.client.getImage(`${acceptedId}/0`), status.FAILED_PRECONDITION, /not rendered/],
    ['bad page token', () => farm.client.listJobs({ pageToken: 'zzz' }), status.INVALID_ARGUMENT, /page_token/],
    ['estimate with an unknown model', () => farm.client.estimateCost({ spec: spec({ model: 'nope' }), entries: prompts(1) }), status.NOT_FOUND, /not served/],
  ];

  it.each(cases)('%s', async (_name, call, code, message) => {
    const got = await codeOf(call());
    expect(status[got.code]).toBe(status[code]);
    expect(got.details).toMatch(message);
  });

  it('lost and altered nothing already accepted', async () => {
    const job = await farm.client.getJob(acceptedId);
    expect(job.images).toMatchObject({ total: 5, succeeded: 0, failed: 0, cancelled: 0 });
    const all = await farm.client.listJobs({ pageSize: 1000 });
    // The accepted job, plus the one 4,000-image job that fitted before the queue filled.
    expect(all.jobs.map((j) => j.images?.total).sort()).toEqual([4000, 5]);
  });

  it('the CLI names the line of a malformed JSONL entry and exits 2', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.path, 'bad.jsonl');
      await writeFile(file, '{"prompt":"fine"}\n{"prompt":"also fine","width":64}\n{"prompt": nope}\n');
      const r = await runCli(['submit', '--coordinator', farm.coordinator.address, file]);
      expect(r.code).toBe(2);
      expect(r.output).toMatch(/bad\.jsonl:3: not valid JSON/);
    } finally {
      await dir.remove();
    }
  });

  it('the CLI refuses a seed outside 0..2^32-1 before sending anything, exit 2', async () => {
    const r = await runCli(['submit', '--coordinator', farm.coordinator.address, '--seed', '4294967296', '--prompt', 'x']);
    expect(r.code).toBe(2);
    expect(r.output.trim()).toBe('latentfarm submit: --seed: 4294967296 is above the maximum 4294967295');
  });

  it('the CLI reports a server-side rejection with its status', async () => {
    const r = await runCli(['submit', '--coordinator', farm.coordinator.address, '--width', '100', '--prompt', 'x']);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/INVALID_ARGUMENT: spec\.params\.width: 100 is not a positive multiple of 8/);
  });

  it('a coordinator default that no job could use fails at start with one clear line', async () => {
    const r = await runCli(['serve', '--port', '0', '--default-width', '100']);
    expect(r.code).toBe(2);
    expect(r.output.trim()).toBe('latentfarm serve: --default-width: 100 is not a multiple of 8');
  });

  it('a bad flag fails at start with one clear line', async () => {
    const r = await runCli(['worker', '--max-batch', 'lots']);
    expect(r.code).toBe(2);
    expect(r.output.trim()).toBe('latentfarm worker: --max-batch: "lots" is not an integer');
  });
});

export type { PromptEntry };
