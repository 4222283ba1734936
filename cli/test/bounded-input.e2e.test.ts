// Every input is bounded, and errors quote only a short prefix of it (issue 13:
// 60 × 1 MB labels took a coordinator to 4.7 GB and broke ListJobs for
// everyone; a 10 MB id came back in full in the status; WatchJob after
// 2^53 answered INTERNAL). Real gRPC against a real coordinator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { GetJobRequest, ListJobsRequest, RenderFarmClient, type ListJobsResponse } from '@latentfarm/proto';
import { prompts, spec, startTestFarm, type TestFarm } from './farm.js';
import { closeRawClients, helloOf, rawServerStream, rawUnary, rawWorker } from './hostile.js';

async function statusOf(p: Promise<unknown>): Promise<{ code: string; details: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as ServiceError;
    return { code: status[e.code] ?? String(e.code), details: e.details };
  }
  return { code: 'OK', details: '' };
}

/** A protobuf varint, for numbers JavaScript cannot hold. */
function varint(v: bigint): Buffer {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

/** WatchJobRequest { job_id, after_sequence } encoded by hand, so after_sequence may be any uint64. */
const watchRequest = (jobId: string, after: bigint): Buffer => {
  const id = Buffer.from(jobId);
  return Buffer.concat([Buffer.from([0x0a]), varint(BigInt(id.length)), id, Buffer.from([0x10]), varint(after)]);
};

const TEN_MB = 'x'.repeat(10 * 1024 * 1024);
/** Longest status message a test accepts for an error about a huge input. */
const SHORT = 300;

describe('bounded input', () => {
  let farm: TestFarm;
  let jobId: string;
  beforeAll(async () => {
    farm = await startTestFarm(0);
    jobId = (await farm.client.submitJob(spec(), prompts(3))).job!.id;
  });
  afterAll(async () => { closeRawClients(); await farm?.stop(); });

  it('refuses the label bomb (30 labels of 1 MB) with a short INVALID_ARGUMENT, and a 60 MB one at the message limit', async () => {
    const labels = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, 'v'.repeat(1024 * 1024)]));
    const got = await statusOf(farm.client.submitJob(spec({ labels }), prompts(1)));
    expect(got.code).toBe('INVALID_ARGUMENT');
    expect(got.details).toMatch(/spec\.labels\["k0"\]: value is 1048576 characters, at most 1024 allowed/);
    expect(got.details.length).toBeLessThan(SHORT);
    const bigger = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'v'.repeat(1024 * 1024)]));
    expect((await statusOf(farm.client.submitJob(spec({ labels: bigger }), prompts(1)))).code).toBe('RESOURCE_EXHAUSTED');
    // Too many labels, a long key, and too much in all are each refused too.
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    expect((await statusOf(farm.client.submitJob(spec({ labels: many }), prompts(1)))).details).toMatch(/65 labels, at most 64/);
    expect((await statusOf(farm.client.submitJob(spec({ labels: { ['k'.repeat(200)]: 'v' } }), prompts(1)))).details).toMatch(/key "k{16}"… is 200 characters, at most 128/);
    const total = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
    expect((await statusOf(farm.client.submitJob(spec({ labels: total }), prompts(1)))).details).toMatch(/at most 16384 allowed/);
    expect((await farm.client.listJobs({ pageSize: 1000 })).jobs.map((j) => j.id)).toEqual([jobId]);
  });

  it.each([
    ['GetJob', () => farm.client.getJob(TEN_MB), /job_id: "x{16}"… is 10485760 characters, at most 256 allowed/],
    ['CancelJob', () => farm.client.cancelJob(TEN_MB), /job_id: .* at most 256 allowed/],
    ['WatchJob', async () => { for await (const _ of farm.client.watch(TEN_MB)) { /* none */ } }, /job_id: .* at most 256 allowed/],
    ['GetImage', () => farm.client.getImage(`${TEN_MB}/0`), /image_id: .* at most 256 allowed/],
    ['SubmitJob idempotency key', () => farm.client.submitJob(spec({ idempotencyKey: TEN_MB }), prompts(1)), /spec\.idempotency_key: .* at most 256 allowed/],
    ['ListJobs page token', () => farm.client.listJobs({ pageToken: TEN_MB }), /page_token: .* at most 256 allowed/],
    ['ListJobs page token, short but wrong', () => farm.client.listJobs({ pageToken: 'z'.repeat(200) }), /page_token: "z{64}"… is not a token/],
  ] as const)('refuses a 10 MB id (%s) with INVALID_ARGUMENT and quotes at most a short prefix', async (_name, call, message) => {
    const got = await statusOf(call());
    expect(got.code).toBe('INVALID_ARGUMENT');
    expect(got.details).toMatch(message);
    expect(got.details.length).toBeLessThan(SHORT);
  });

  it('refuses a worker whose hello carries a 10 MB id, or 10,000 models', async () => {
    const long = await rawWorker(farm.coordinator.address, helloOf(TEN_MB)).ended;
    expect(status[long.code]).toBe('INVALID_ARGUMENT');
    expect(long.details).toMatch(/hello\.worker_id: .* at most 256 allowed/);
    expect(long.details.length).toBeLessThan(SHORT);
    const models = Array.from({ length: 10_000 }, (_, i) => `m${i}`);
    const many = await rawWorker(farm.coordinator.address, helloOf('many-models', { models })).ended;
    expect(status[many.code]).toBe('INVALID_ARGUMENT');
    expect(many.details).toMatch(/hello\.models: 10000 models, at most 64/);
    expect((await farm.client.getFarmStatus()).workers).toEqual([]);
  });

  it.each([
    ['2^53', 2n ** 53n],
    ['2^63', 2n ** 63n],
    ['2^64 − 1', 2n ** 64n - 1n],
  ])('answers WatchJob after_sequence %s with INVALID_ARGUMENT, not INTERNAL', async (_name, after) => {
    const got = await rawServerStream(farm.coordinator.address, 'WatchJob', watchRequest(jobId, after));
    expect(status[got.code]).toBe('INVALID_ARGUMENT');
    expect(got.details).toMatch(/after_sequence is out of range/);
  });

  it('answers WatchJob after a sequence beyond the job\'s last with INVALID_ARGUMENT', async () => {
    const got = await rawServerStream(farm.coordinator.address, 'WatchJob', watchRequest(jobId, 2n ** 53n - 1n));
    expect(status[got.code]).toBe('INVALID_ARGUMENT');
    expect(got.details).toMatch(/after_sequence: 9007199254740991 is beyond the job's latest event/);
  });

  it('answers bytes that are no message with INVALID_ARGUMENT', async () => {
    const got = await rawUnary(farm.coordinator.address, 'GetJob', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2]));
    expect(status[got.code]).toBe('INVALID_ARGUMENT');
    expect(got.details).toMatch(/malformed GetJob request/);
    expect(GetJobRequest.decode(GetJobRequest.encode({ jobId }).finish()).jobId).toBe(jobId);
  });
});

describe('ListJobs', () => {
  let farm: TestFarm;
  beforeAll(async () => { farm = await startTestFarm(0); });
  afterAll(async () => farm?.stop());

  it('pages 300 jobs with the most labels allowed (4.8 MB) so each page fits a default client\'s 4 MiB limit', async () => {
    // 16 labels of 1,000 characters: just under the 16,384 allowed in all.
    const labels = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v'.repeat(1000)]));
    const ids = new Set<string>();
    for (let i = 0; i < 300; i++) ids.add((await farm.client.submitJob(spec({ labels }), prompts(1))).job!.id);
    // A client at grpc-js defaults: 4 MiB received at most.
    const plain = new RenderFarmClient(farm.coordinator.address, credentials.createInsecure());
    const list = (pageToken: string) => new Promise<ListJobsResponse>((resolve, reject) => {
      plain.listJobs(ListJobsRequest.fromPartial({ pageSize: 1000, pageToken }), (err, res) => (err ? reject(err) : resolve(res)));
    });
    try {
      const seen: string[] = [];
      let token = '';
      let pages = 0;
      do {
        const page = await list(token);
        pages++;
        seen.push(...page.jobs.map((j) => j.id));
        token = page.nextPageToken;
      } while (token !== '');
      expect(pages).toBeGreaterThan(1);
      expect(new Set(seen)).toEqual(ids);
      expect(seen).toHaveLength(300);
    } finally {
      plain.close();
    }
  });
});
