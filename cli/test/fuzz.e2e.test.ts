// Fuzz of both gRPC services, RenderFarm and WorkerGateway: 10,000 malformed
// and hostile requests (fuzz-gen.ts) sent with raw grpc-js calls over real
// gRPC against a real coordinator, 16 at a time: unary calls with random or
// mutated bytes, server streams cancelled after their first message, submit
// streams out of order or cut short, worker streams that speak before hello,
// grant absurd credit, send junk and vanish. Afterwards the server still
// serves, a job finished before the fuzz is unchanged to the byte, a job
// queued before it has lost nothing and finishes once an honest worker comes,
// and a new job renders; a tenant's credits are as they were. Deterministic by seed: LATENTFARM_FUZZ_SEED
// (default 1) and LATENTFARM_FUZZ_COUNT (default 10,000) reproduce a run.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metadata, status } from '@grpc/grpc-js';
import { AdminClient } from '@latentfarm/client';
import { ConnectRequest, FinishReason, JobState, type GetCreditsResponse, type Job } from '@latentfarm/proto';
import { collect, prompts, spec, startTestFarm, type TestFarm } from './farm.js';
import { Rng, hello, requestBytes, streamItem, workerMessage } from './fuzz-gen.js';
import { closeRawClients, rawClient, rawServerStream, rawUnary, type CallEnd } from './hostile.js';

const SEED = Number(process.env['LATENTFARM_FUZZ_SEED'] ?? 1);
const COUNT = Number(process.env['LATENTFARM_FUZZ_COUNT'] ?? 10_000);
const IN_FLIGHT = 16;
/** Only against a hang: every fuzz call ends long before (it is cancelled or answered at once). */
const CALL_DEADLINE_MS = 30_000;

const UNARY = ['SubmitJob', 'EstimateCost', 'GetJob', 'CancelJob', 'ListJobs', 'GetFarmStatus'] as const;
const identity = (b: Buffer): Buffer => b;

/** A client-streaming or bidi call: writes `frames` (already serialized), then ends or cancels it; resolves with its status. */
function rawStream(address: string, path: string, bidi: boolean, frames: Buffer[], ending: 'end' | 'cancel' | 'cancel-early'): Promise<CallEnd> {
  return new Promise((resolve) => {
    const client = rawClient(address);
    const md = new Metadata();
    const opts = { deadline: Date.now() + CALL_DEADLINE_MS };
    const done = (e: { code: number; details: string }) => resolve({ code: e.code, details: e.details });
    const call = bidi
      ? client.makeBidiStreamRequest(path, identity, identity, md, opts)
      : client.makeClientStreamRequest(path, identity, identity, md, opts, () => undefined);
    call.on('status', done);
    call.on('error', () => undefined);
    if (bidi) call.on('data', () => undefined);
    const cut = ending === 'cancel-early' ? Math.floor(frames.length / 2) : frames.length;
    for (const f of frames.slice(0, cut)) call.write(f);
    if (ending === 'end') call.end();
    else call.cancel();
  });
}

/** Request `i` of the run: its method and bytes follow from the seed and `i` alone. */
function fuzzCall(address: string, i: number, known: readonly string[]): { method: string; run: () => Promise<CallEnd> } {
  const r = new Rng(SEED * 1_000_003 + i);
  const roll = r.next();
  if (roll < 0.5) {
    const method = r.pick(UNARY);
    const bytes = requestBytes(r, method, known);
    return { method, run: () => rawUnary(address, method, bytes, CALL_DEADLINE_MS) };
  }
  if (roll < 0.68) {
    const method = roll < 0.6 ? 'WatchJob' : 'GetImage';
    const bytes = requestBytes(r, method, known);
    return { method, run: () => rawServerStream(address, method, bytes, { cancelAfterFirst: true, deadlineMs: CALL_DEADLINE_MS }) };
  }
  const ending = r.pick(['end', 'end', 'cancel', 'cancel-early'] as const);
  if (roll < 0.8) {
    const frames = Array.from({ length: r.int(6) }, () => streamItem(r));
    return { method: 'SubmitJobStream', run: () => rawStream(address, '/latentfarm.v1.RenderFarm/SubmitJobStream', false, frames, ending) };
  }
  const frames: Buffer[] = [];
  if (r.chance(0.7)) frames.push(Buffer.from(ConnectRequest.encode({ message: { $case: 'hello', value: hello(r) } }).finish()));
  for (let n = r.int(8); n > 0; n--) frames.push(workerMessage(r));
  return { method: 'Connect', run: () => rawStream(address, '/latentfarm.v1.WorkerGateway/Connect', true, frames, ending) };
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const stable = (j: Job) => ({ id: j.id, state: j.state, images: j.images, lastSequence: j.lastSequence, spec: j.spec, finishedUnixMs: j.finishedUnixMs });

describe(`fuzz: ${COUNT} malformed and hostile requests (seed ${SEED})`, () => {
  let farm: TestFarm;
  let finished: Job;
  let finishedImages: string[];
  let queuedId: string;
  /** A tenant's account before the fuzz: no hostile call may move its credits. */
  let canaryCredits: GetCreditsResponse;
  const known: string[] = [];
  beforeAll(async () => {
    farm = await startTestFarm(1, {}, { maxImagesPerJob: 1000, maxQueuedImages: 200_000 });
    const { job } = await farm.client.submitJob(spec(), prompts(4));
    await collect(farm.client, job!.id);
    finished = await farm.client.getJob(job!.id);
    expect(finished.state).toBe(JobState.SUCCEEDED);
    finishedImages = [];
    for (let i = 0; i < 4; i++) {
      const img = await farm.client.getImage(`${job!.id}/${i}`);
      finishedImages.push(`${JSON.stringify(img.info)} ${sha(img.data)}`);
    }
    // No honest worker while the fuzz runs: only the fuzz's "workers" are offered the queued job's images.
    const [w] = farm.workers;
    w!.kill('SIGKILL');
    await w!.exited();
    for (;;) {
      if ((await farm.client.getFarmStatus()).workers.length === 0) break;
      await new Promise((r) => setImmediate(r));
    }
    queuedId = (await farm.client.submitJob(spec(), prompts(6))).job!.id;
    // Jobs the fuzz may name (made the same way every run); the canaries above are never named.
    for (let i = 0; i < 3; i++) known.push((await farm.client.submitJob(spec({ labels: { fuzz: 'target' } }), prompts(2))).job!.id);
    await farm.client.cancelJob(known[2]!);
    const admin = new AdminClient(farm.coordinator.address);
    await admin.createTenant('canary');
    await admin.grantCredits('canary', 100);
    admin.close();
    canaryCredits = await farm.client.getCredits({ tenantId: 'canary' });
    expect(canaryCredits.account?.balance).toBe(100);
  });
  afterAll(async () => { closeRawClients(); await farm?.stop(); });

  it('keeps serving, answers each with a status it should, and changes no job it was not asked to', async () => {
    const address = farm.coordinator.address;
    const codes = new Map<string, number>();
    const bad: string[] = [];
    const started = performance.now();
    const cpu = process.cpuUsage();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < COUNT; i = next++) {
        const { method, run } = fuzzCall(address, i, known);
        const end = await run();
        const name = status[end.code] ?? String(end.code);
        codes.set(`${method} ${name}`, (codes.get(`${method} ${name}`) ?? 0) + 1);
        if (['INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED', 'UNAVAILABLE', 'DATA_LOSS'].includes(name)) bad.push(`#${i} ${method} ${name}: ${end.details.slice(0, 200)}`);
        if (end.details.length > 1024) bad.push(`#${i} ${method}: a ${end.details.length}-character status message`);
        // The server keeps serving: a plain client's call succeeds between the fuzz's.
        if (i % 1000 === 999) await farm.client.getFarmStatus();
      }
    };
    // (The bound below only catches a hang: about a minute on a quiet 2-core machine, more on a loaded one.)
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (performance.now() - started) / 1000;
    // The coordinator runs in this process, so this is the CPU of both ends: a measure a loaded machine does not inflate.
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const summary = [...codes].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${k}: ${n}`).join('\n');
    process.stdout.write(`fuzz seed ${SEED}: ${COUNT} requests in ${seconds.toFixed(1)} s (${cpuSeconds.toFixed(1)} CPU-seconds, client and coordinator)\n${summary}\n`);
    expect(bad).toEqual([]);
    expect([...codes.values()].reduce((a, b) => a + b, 0)).toBe(COUNT);

    // The job finished before the fuzz: the same record, the same images, byte for byte.
    expect(stable(await farm.client.getJob(finished.id))).toEqual(stable(finished));
    for (let i = 0; i < 4; i++) {
      const img = await farm.client.getImage(`${finished.id}/${i}`);
      expect(`${JSON.stringify(img.info)} ${sha(img.data)}`).toBe(finishedImages[i]);
    }
    // The job queued before it: nothing committed, nothing failed.
    const queued = await farm.client.getJob(queuedId);
    expect(queued.images).toMatchObject({ total: 6, succeeded: 0, failed: 0, cancelled: 0 });
    expect([JobState.QUEUED, JobState.RUNNING]).toContain(queued.state);
    // A tenant's credits: the same account and the same ledger entries.
    expect(await farm.client.getCredits({ tenantId: 'canary' })).toEqual(canaryCredits);
  }, 600_000);

  it('then finishes the queued job with an honest worker, and renders a new one', async () => {
    // Jobs the fuzz submitted are cancelled (as their submitter could), so the honest worker is not busy with them.
    for (const state of [JobState.QUEUED, JobState.RUNNING]) {
      let token = '';
      do {
        const page = await farm.client.listJobs({ states: [state], pageSize: 1000, pageToken: token });
        for (const j of page.jobs) if (j.id !== queuedId) await farm.client.cancelJob(j.id);
        token = page.nextPageToken;
      } while (token !== '');
    }
    const honest = await farm.addWorker();
    await collect(farm.client, queuedId);
    const done = await farm.client.getJob(queuedId);
    expect(done.state).toBe(JobState.SUCCEEDED);
    expect(done.images).toMatchObject({ total: 6, succeeded: 6, failed: 0 });
    for (let i = 0; i < 6; i++) {
      const img = await farm.client.getImage(`${queuedId}/${i}`);
      expect(img.info.finishReason).toBe(FinishReason.SUCCESS);
      expect(img.info.workerId).toBe(honest.id);
    }
    const { job } = await farm.client.submitJob(spec(), prompts(3));
    await collect(farm.client, job!.id);
    expect((await farm.client.getJob(job!.id)).images).toMatchObject({ succeeded: 3, failed: 0 });
  });
});
