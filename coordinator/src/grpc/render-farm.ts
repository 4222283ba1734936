// RenderFarm handlers: thin, they validate the wire shape, call the Farm, and
// map errors in one place (status.ts).
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, ServerReadableStream } from '@grpc/grpc-js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, type Logger } from '@latentfarm/common';
import {
  FinishReason, JobState,
  type JobSpec, type PromptEntry, type RenderFarmServer, type WatchJobRequest, type WatchJobResponse,
  type GetImageRequest, type GetImageResponse, type SubmitJobStreamRequest, type SubmitJobStreamResponse, type ImageStep,
} from '@latentfarm/proto';
import type { Farm } from '../farm/farm.js';
import { estimateJob } from '../jobs/cost.js';
import type { FarmEvent, Store } from '../store/store.js';
import { isInternal, toServiceError } from './status.js';

/** Image bytes per WatchJob/GetImage message, leaving room for metadata under 1 MiB. */
export const CHUNK_BYTES = 1_000_000;
const PROGRESS_INTERVAL_MS = 250;
const TERMINAL = new Set([JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED]);

export function renderFarmHandlers(farm: Farm, store: Store, log: Logger): RenderFarmServer {
  const unary = <Req, Res>(fn: (req: Req) => Promise<Res> | Res) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      Promise.resolve().then(() => fn(call.request)).then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (isInternal(err)) log.error({ err }, 'request failed');
          callback(toServiceError(err));
        },
      );
    };

  const fail = (call: ServerWritableStream<unknown, unknown>, err: unknown): void => {
    if (isInternal(err)) log.error({ err }, 'stream failed');
    call.emit('error', toServiceError(err));
  };

  return {
    submitJob: unary((req) => farm.submit(req.spec, req.entries)),

    submitJobStream(call: ServerReadableStream<SubmitJobStreamRequest, SubmitJobStreamResponse>, callback) {
      collectStream(call, farm).then(
        ({ spec, entries }) => farm.submit(spec, entries, true),
      ).then((res) => callback(null, res), (err: unknown) => {
        if (isInternal(err)) log.error({ err }, 'stream submit failed');
        callback(toServiceError(err));
      });
    },

    watchJob(call) {
      watch(call, farm, store).catch((err: unknown) => fail(call, err));
    },

    getJob: unary(async (req) => ({ job: await farm.jobProto(req.jobId) })),
    listJobs: unary((req) => farm.list(req)),
    cancelJob: unary(async (req) => ({ job: await farm.cancel(req.jobId) })),

    getImage(call) {
      getImage(call, farm, store).catch((err: unknown) => fail(call, err));
    },

    estimateCost: unary((req) => {
      const spec = farm.validate(req.spec, req.entries);
      if (req.entries.length === 0) throw new InvalidArgumentError('entries', 'empty: estimate needs at least one prompt');
      return { ...estimateJob(farm.cost, spec.params, req.entries, farm.defaults), formula: farm.describeCost() };
    }),

    getFarmStatus: unary(() => farm.status()),
  };
}

async function collectStream(call: ServerReadableStream<SubmitJobStreamRequest, SubmitJobStreamResponse>, farm: Farm): Promise<{ spec: JobSpec; entries: PromptEntry[] }> {
  let spec: JobSpec | undefined;
  const entries: PromptEntry[] = [];
  for await (const msg of call as AsyncIterable<SubmitJobStreamRequest>) {
    const item = msg.item;
    if (item?.$case === 'spec') {
      if (spec !== undefined) throw new InvalidArgumentError('spec', 'sent twice: the spec must be the first message, once');
      spec = farm.validate(item.value, []);
    } else if (item?.$case === 'prompts') {
      if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: the first message must carry the spec');
      farm.validate(spec, item.value.entries, entries.length);
      for (const e of item.value.entries) entries.push(e);
    } else {
      throw new InvalidArgumentError('item', 'empty message: send a spec or prompts');
    }
  }
  if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: the stream carried no spec');
  return { spec, entries };
}

async function write(call: ServerWritableStream<unknown, WatchJobResponse | GetImageResponse>, msg: WatchJobResponse | GetImageResponse, signal: AbortSignal): Promise<void> {
  // Respect backpressure, so a slow reader holds at most one buffer of ours.
  if (!call.write(msg) && !signal.aborted) await once(call, 'drain', { signal }).catch(() => undefined);
}

function chunks(data: Uint8Array): Buffer[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length === 0) return [buf];
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += CHUNK_BYTES) out.push(buf.subarray(i, i + CHUNK_BYTES));
  return out;
}

async function watch(call: ServerWritableStream<WatchJobRequest, WatchJobResponse>, farm: Farm, store: Store): Promise<void> {
  const req = call.request;
  const job = await farm.record(req.jobId);
  const last = await store.lastSequence(job.id);
  if (req.afterSequence > last) {
    throw new InvalidArgumentError('after_sequence', `${req.afterSequence} is beyond the job's latest event ${last}`);
  }
  if (await endedBefore(job.id, req.afterSequence, TERMINAL.has(job.state), last, store)) {
    // The caller has seen the job's end already (a resume after its last event): nothing will follow.
    call.end();
    return;
  }
  const ac = new AbortController();
  const { signal } = ac;
  call.on('cancelled', () => ac.abort());
  call.on('close', () => ac.abort());
  let after = req.afterSequence;
  const sentSteps = new Map<number, number>();
  let newEvents: Promise<void> | undefined;

  const send = async (e: FarmEvent): Promise<boolean> => {
    if (e.kind === 'state') {
      await write(call, { sequence: e.seq, unixMs: e.unixMs, event: { $case: 'state', value: { state: e.state, images: e.counts, reason: e.reason } } }, signal);
      return TERMINAL.has(e.state);
    }
    const info = e.info;
    sentSteps.delete(info.index);
    const stored = info.finishReason === FinishReason.SUCCESS && !req.referencesOnly ? await store.getImage(info.id) : undefined;
    const parts = stored === undefined ? [Buffer.alloc(0)] : chunks(stored.data);
    for (let i = 0; i < parts.length; i++) {
      await write(call, {
        sequence: e.seq, unixMs: e.unixMs,
        event: { $case: 'image', value: { info: i === 0 ? info : undefined, data: parts[i] as Buffer, chunkIndex: i, lastChunk: i === parts.length - 1 } },
      }, signal);
    }
    return false;
  };

  while (!signal.aborted) {
    const events = await store.readEvents(job.id, after, 64);
    for (const e of events) {
      if (signal.aborted) return;
      const end = await send(e);
      after = e.seq;
      if (end) {
        call.end();
        return;
      }
    }
    if (events.length > 0) continue;
    // One waiter per gap in the log, kept across progress ticks, so a quiet job does not pile them up.
    newEvents ??= store.waitForEvents(job.id, after, signal).then(() => { newEvents = undefined; });
    await Promise.race([newEvents, sleep(PROGRESS_INTERVAL_MS)]);
    if (!req.noProgress && !signal.aborted) {
      const steps: ImageStep[] = [];
      for (const [index, p] of farm.progress.get(job.id) ?? []) {
        if (sentSteps.get(index) === p.step) continue;
        sentSteps.set(index, p.step);
        steps.push({ imageId: `${job.id}/${index}`, step: p.step, totalSteps: p.total });
      }
      if (steps.length > 0) await write(call, { sequence: after, unixMs: Date.now(), event: { $case: 'progress', value: { images: steps } } }, signal);
    }
  }
}

/**
 * Whether a watch after `after` has nothing left to wait for: the job is
 * finished and no event follows `after`, or the event at `after` is the job's
 * final state (its record may lag it by a moment). `finished` must be read
 * before `last`: a finishing job appends its final event before its record
 * says it is finished, so a finished record seen first means `last` is final.
 */
async function endedBefore(jobId: string, after: number, finished: boolean, last: number, store: Store): Promise<boolean> {
  if (after === 0) return false;
  if (finished) return after >= last;
  const [atAfter] = await store.readEvents(jobId, after - 1, 1);
  return atAfter?.seq === after && atAfter.kind === 'state' && TERMINAL.has(atAfter.state);
}

const IMAGE_ID = /^([a-z0-9]+)\/(\d+)$/;

async function getImage(call: ServerWritableStream<GetImageRequest, GetImageResponse>, farm: Farm, store: Store): Promise<void> {
  const m = IMAGE_ID.exec(call.request.imageId);
  if (m === null) throw new InvalidArgumentError('image_id', `"${call.request.imageId}" is not an image id (<job_id>/<index>)`);
  const job = await farm.record(m[1] as string);
  const index = Number(m[2]);
  if (index >= job.total) throw new NotFoundError(`image ${call.request.imageId} does not exist: job ${job.id} has ${job.total} images`);
  const info = await farm.imageInfo(job.id, index);
  if (info === undefined || info.finishReason !== FinishReason.SUCCESS) {
    throw new FailedPreconditionError(`image ${call.request.imageId} is not rendered (${info === undefined ? 'not finished yet' : `failed: ${info.error}`})`);
  }
  const stored = await store.getImage(info.id);
  if (stored === undefined) throw new NotFoundError(`image ${info.id} is missing from the store`);
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  const parts = chunks(stored.data);
  for (let i = 0; i < parts.length; i++) await write(call, { info: i === 0 ? { ...info, sizeBytes: stored.data.length, mimeType: stored.mimeType } : undefined, data: parts[i] as Buffer }, ac.signal);
  call.end();
}
