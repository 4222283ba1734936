// RenderFarm handlers: thin. Each reads the caller's principal once, turns the
// request into a farm call, the answer into messages, and errors into status
// codes in one place (status.ts).
import { once } from 'node:events';
import type { sendUnaryData, ServerReadableStream, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { CancelledError, InvalidArgumentError, type Logger } from '@latentfarm/common';
import type {
  GetImageRequest, GetImageResponse, RenderFarmServer, SubmitJobStreamRequest, WatchJobRequest, WatchJobResponse,
} from '@latentfarm/proto';
import type { ClientApi, SubmitItem, WatchEvent } from '../farm/api.js';
import type { Principal } from '../farm/principal.js';
import { toCreditsAccount, toCreditsEntry } from './credits.js';
import { isMalformed } from './malformed.js';
import { principalOf } from './principal.js';
import { isInternal, toServiceError } from './status.js';

/** Image bytes per WatchJob/GetImage message, leaving room for metadata under 1 MiB. */
export const CHUNK_BYTES = 1_000_000;

export function renderFarmHandlers(farm: ClientApi, log: Logger): RenderFarmServer {
  const reply = <Res>(callback: sendUnaryData<Res>, what: string) => ({
    ok: (res: Res) => callback(null, res),
    failed: (err: unknown) => {
      if (isInternal(err)) log.error({ err }, what);
      callback(toServiceError(err));
    },
  });

  const unary = <Req, Res>(fn: (principal: Principal, req: Req) => Promise<Res> | Res) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const r = reply(callback, 'request failed');
      Promise.resolve().then(() => fn(principalOf(call), call.request)).then(r.ok, r.failed);
    };

  const stream = <Req, Res>(fn: (principal: Principal, call: ServerWritableStream<Req, Res>) => Promise<void>) =>
    (call: ServerWritableStream<Req, Res>): void => {
      fn(principalOf(call), call).catch((err: unknown) => {
        if (isInternal(err)) log.error({ err }, 'stream failed');
        call.emit('error', toServiceError(err));
      });
    };

  return {
    submitJob: unary((p, req) => farm.submit(p, req.spec, req.entries)),

    submitJobStream(call, callback) {
      const r = reply(callback, 'stream submit failed');
      farm.submitStream(principalOf(call), items(call)).then(r.ok, r.failed);
    },

    watchJob: stream(watch(farm)),
    getJob: unary(async (p, req) => ({ job: await farm.job(p, req.jobId) })),
    listJobs: unary((p, req) => farm.list(p, req)),
    cancelJob: unary(async (p, req) => ({ job: await farm.cancel(p, req.jobId) })),
    getImage: stream(getImage(farm)),
    estimateCost: unary((p, req) => farm.estimate(p, req.spec, req.entries)),
    getFarmStatus: unary((p) => farm.status(p)),
    getCredits: unary(async (p, req) => {
      const v = await farm.credits(p, req.tenantId, req.pageSize, req.pageToken);
      return { account: toCreditsAccount(v.account), entries: v.entries.map(toCreditsEntry), nextPageToken: v.nextPageToken };
    }),
  };
}

async function* items(call: ServerReadableStream<SubmitJobStreamRequest, unknown>): AsyncIterable<SubmitItem> {
  for await (const msg of call) {
    if (isMalformed(msg)) throw new InvalidArgumentError('', msg.message);
    yield msg.item;
  }
  // A call known to be cancelled by now is said so; one whose cancel is not seen yet lacks its end message
  // (JobService.receiveStream), which makes no job either.
  if (call.cancelled) throw new CancelledError('the stream was cancelled before its end: no job was made');
}

function watch(farm: ClientApi) {
  return async (principal: Principal, call: ServerWritableStream<WatchJobRequest, WatchJobResponse>): Promise<void> => {
    const req = call.request;
    const ac = new AbortController();
    const { signal } = ac;
    call.on('cancelled', () => ac.abort());
    call.on('close', () => ac.abort());
    const events = farm.events(principal, req.jobId, req.afterSequence, signal, { images: !req.referencesOnly, progress: !req.noProgress });
    for await (const e of events) {
      for (const msg of watchMessages(e)) await write(call, msg, signal);
    }
    // Ended by the job's final state (or a resume after it), not by the caller leaving.
    if (!signal.aborted) call.end();
  };
}

function watchMessages(e: WatchEvent): WatchJobResponse[] {
  const head = { sequence: e.seq, unixMs: e.unixMs };
  switch (e.kind) {
    case 'state':
      return [{ ...head, event: { $case: 'state', value: { state: e.state, images: e.counts, reason: e.reason } } }];
    case 'progress':
      return [{ ...head, event: { $case: 'progress', value: { images: e.images } } }];
    case 'image': {
      const parts = chunks(e.data);
      return parts.map((data, i) => ({
        ...head, event: { $case: 'image', value: { info: i === 0 ? e.info : undefined, data, chunkIndex: i, lastChunk: i === parts.length - 1 } },
      }));
    }
  }
}

function getImage(farm: ClientApi) {
  return async (principal: Principal, call: ServerWritableStream<GetImageRequest, GetImageResponse>): Promise<void> => {
    const { info, data } = await farm.image(principal, call.request.imageId);
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    const parts = chunks(data);
    for (let i = 0; i < parts.length; i++) await write(call, { info: i === 0 ? info : undefined, data: parts[i] as Buffer }, ac.signal);
    call.end();
  };
}

async function write<T>(call: ServerWritableStream<unknown, T>, msg: T, signal: AbortSignal): Promise<void> {
  // Respect backpressure, so a slow reader holds at most one buffer of ours.
  if (!call.write(msg) && !signal.aborted) await once(call, 'drain', { signal }).catch(() => undefined);
}

/** An image's bytes in messages under 1 MiB; no bytes (a failure, or references only) is one empty chunk. */
function chunks(data: Uint8Array | undefined): Buffer[] {
  if (data === undefined || data.byteLength === 0) return [Buffer.alloc(0)];
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += CHUNK_BYTES) out.push(buf.subarray(i, i + CHUNK_BYTES));
  return out;
}
