// The console's JSON API: each route reads the caller's principal once,
// makes one farm call (the same ClientApi the gRPC handlers use) and turns
// the answer into the console's JSON. Live updates are the farm's own job
// event stream (what WatchJob sends), forwarded as server-sent events.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError, type Logger } from '@latentfarm/common';
import type { CreditsView, JobPage, LiveEvent } from '@latentfarm/console';
import type { JobState } from '@latentfarm/proto';
import type { ClientApi } from '../farm/api.js';
import type { Principal } from '../farm/principal.js';
import { openEventStream, readJson, sendJson, SECURITY_HEADERS, type EventSink } from './http-io.js';
import { httpStatus } from './status.js';
import { submission } from './submit-body.js';
import { creditsView, estimateView, farmView, imageView, jobView, liveEvent, stateOf } from './views.js';
import { streamSink, ZipWriter } from './zip.js';

/** How often the farm page's stream sends the farm's status (read from the farm's memory, not the store). */
const FARM_INTERVAL_MS = 1000;
/** Jobs one jobs-page stream follows at most (a page of jobs). */
const MAX_LIVE_JOBS = 100;

const JOB_ID = /^[a-z0-9]{1,64}$/;

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The caller, as the session (or key) says; throws UnauthenticatedError where the console asks for a log-in. */
  principal(): Promise<Principal>;
}

export type Route = (ctx: RouteContext, params: readonly string[]) => Promise<void>;

export interface ApiRoutes {
  readonly [key: string]: Route;
}

function jobId(raw: string | undefined): string {
  const id = decodeURIComponent(raw ?? '');
  if (!JOB_ID.test(id)) throw new InvalidArgumentError('job id', `"${id.slice(0, 40)}" is not a job id`);
  return id;
}

function afterOf(ctx: RouteContext): number {
  // A reconnecting EventSource says where it left off; a first connection may ask with ?after=.
  const raw = ctx.req.headers['last-event-id'] ?? ctx.url.searchParams.get('after') ?? '0';
  const after = Number(raw);
  if (!Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError('after', `"${String(raw).slice(0, 20)}" is not a sequence number`);
  return after;
}

export function apiRoutes(farm: ClientApi, log: Logger): ApiRoutes {
  return {
    'GET /api/jobs': async (ctx) => {
      const p = await ctx.principal();
      const q = ctx.url.searchParams;
      const states: JobState[] = [];
      for (const name of q.getAll('state').flatMap((s) => s.split(',')).filter((s) => s !== '')) {
        const s = stateOf(name.toUpperCase());
        if (s === undefined) throw new InvalidArgumentError('state', `"${name.slice(0, 20)}" is not a job state (QUEUED, RUNNING, SUCCEEDED, PARTIAL, FAILED, CANCELLED)`);
        states.push(s);
      }
      const labels: Record<string, string> = {};
      for (const kv of q.getAll('label').filter((s) => s !== '')) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new InvalidArgumentError('label', `"${kv.slice(0, 40)}" is not key=value`);
        labels[kv.slice(0, i)] = kv.slice(i + 1);
      }
      const pageSize = Number(q.get('pageSize') ?? '20');
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new InvalidArgumentError('pageSize', 'must be an integer from 1 to 1000');
      const page = await farm.list(p, { pageSize, pageToken: q.get('pageToken') ?? '', states, labels });
      const body: JobPage = { jobs: page.jobs.map(jobView), nextPageToken: page.nextPageToken };
      sendJson(ctx.res, 200, body);
    },

    'POST /api/jobs': async (ctx) => {
      const p = await ctx.principal();
      const { spec, entries } = submission(await readJson(ctx.req));
      const { job } = await farm.submit(p, spec, entries);
      log.info({ job: job.id, images: job.images?.total }, 'job submitted from the console');
      sendJson(ctx.res, 201, jobView(job));
    },

    'POST /api/estimate': async (ctx) => {
      const p = await ctx.principal();
      const { spec, entries } = submission(await readJson(ctx.req));
      sendJson(ctx.res, 200, estimateView(farm.estimate(p, spec, entries), entries.length));
    },

    'GET /api/jobs/:id': async (ctx, [id]) => {
      sendJson(ctx.res, 200, jobView(await farm.job(await ctx.principal(), jobId(id))));
    },

    'POST /api/jobs/:id/cancel': async (ctx, [id]) => {
      sendJson(ctx.res, 200, jobView(await farm.cancel(await ctx.principal(), jobId(id))));
    },

    'GET /api/jobs/:id/events': async (ctx, [raw]) => {
      const p = await ctx.principal();
      const id = jobId(raw);
      const after = afterOf(ctx);
      // Unknown jobs and sequences past the end are refused before the stream starts, as plain JSON errors.
      const job = await farm.job(p, id);
      if (after > Number(job.lastSequence)) throw new InvalidArgumentError('after', `${after} is beyond the job's latest event ${job.lastSequence}`);
      const sink = openEventStream(ctx.req, ctx.res);
      await forward(farm, p, id, after, sink, { progress: true, ids: true }, log);
      if (!sink.signal.aborted) await sink.send({}, { event: 'end' });
      ctx.res.end();
    },

    'GET /api/live': async (ctx) => {
      const p = await ctx.principal();
      const pairs = (ctx.url.searchParams.get('jobs') ?? '').split(',').filter((s) => s !== '').map((s) => {
        const [id, seq = '0'] = s.split(':');
        const after = Number(seq);
        if (!Number.isSafeInteger(after) || after < 0) throw new InvalidArgumentError('jobs', `"${s.slice(0, 60)}" is not <job id>:<sequence>`);
        return { id: jobId(id), after };
      });
      if (pairs.length > MAX_LIVE_JOBS) throw new InvalidArgumentError('jobs', `at most ${MAX_LIVE_JOBS} jobs in one stream`);
      const sink = openEventStream(ctx.req, ctx.res);
      await Promise.all(pairs.map(({ id, after }) => forward(farm, p, id, after, sink, { progress: false, ids: false }, log)));
      if (!sink.signal.aborted) await sink.send({}, { event: 'end' });
      ctx.res.end();
    },

    'GET /api/jobs/:id/download': async (ctx, [raw]) => {
      const p = await ctx.principal();
      const job = await farm.job(p, jobId(raw));
      const total = job.images?.total ?? 0;
      // What the job has now: events up to its latest sequence (a running job's later images are not waited for).
      const last = Number(job.lastSequence);
      const ac = new AbortController();
      ctx.res.on('close', () => ac.abort());
      ctx.res.writeHead(200, {
        ...SECURITY_HEADERS, 'content-type': 'application/zip', 'cache-control': 'no-store',
        'content-disposition': `attachment; filename="${job.id}.zip"`,
      });
      const zip = new ZipWriter(streamSink(ctx.res, ac.signal));
      const width = String(Math.max(0, total - 1)).length;
      const manifest: string[] = [];
      try {
        for await (const e of farm.events(p, job.id, 0, ac.signal, { images: true, progress: false })) {
          if (e.kind === 'image') {
            const view = imageView(e.info, e.unixMs);
            manifest.push(JSON.stringify(view));
            if (e.data !== undefined) await zip.add(`${String(e.info.index).padStart(width, '0')}.${extension(e.info.mimeType, view.format)}`, e.data);
          }
          if (e.seq >= last) break;
        }
        await zip.add('images.jsonl', Buffer.from(manifest.map((l) => `${l}\n`).join('')));
        await zip.finish();
        ctx.res.end();
      } catch (err) {
        // Headers are gone: the only way left to say "incomplete" is to cut the connection.
        if (!ac.signal.aborted) log.warn({ err, job: job.id }, 'job download failed');
        ctx.res.destroy();
      }
    },

    'GET /api/images/:job/:index': async (ctx, [job, index]) => {
      const p = await ctx.principal();
      if (!/^\d{1,9}$/.test(index ?? '')) throw new InvalidArgumentError('index', 'must be a number');
      const { info, data } = await farm.image(p, `${jobId(job)}/${index}`);
      ctx.res.writeHead(200, {
        ...SECURITY_HEADERS, 'content-type': info.mimeType || 'image/png', 'content-length': String(data.byteLength),
        // A rendered image never changes; the session cookie decides who may read it.
        'cache-control': 'private, max-age=86400, immutable',
      });
      ctx.res.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },

    'GET /api/images/:job/:index/info': async (ctx, [job, index]) => {
      const p = await ctx.principal();
      if (!/^\d{1,9}$/.test(index ?? '')) throw new InvalidArgumentError('index', 'must be a number');
      const { info } = await farm.image(p, `${jobId(job)}/${index}`);
      sendJson(ctx.res, 200, imageView(info, 0));
    },

    'GET /api/farm': async (ctx) => {
      sendJson(ctx.res, 200, farmView(farm.status(await ctx.principal())));
    },

    'GET /api/credits': async (ctx) => {
      const p = await ctx.principal();
      const q = ctx.url.searchParams;
      const tenant = q.get('tenant') ?? '';
      const pageSize = Number(q.get('pageSize') ?? '50');
      if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) throw new InvalidArgumentError('pageSize', 'must be an integer from 1 to 1000');
      const admin = p.kind === 'admin';
      // Admins' own jobs are unmetered: with no tenant named there is no account to show, which is an answer, not an error.
      if (admin && tenant === '') {
        const none: CreditsView = { account: null, admin, entries: [], nextPageToken: '' };
        sendJson(ctx.res, 200, none);
        return;
      }
      sendJson(ctx.res, 200, creditsView(await farm.credits(p, tenant, pageSize, q.get('pageToken') ?? ''), admin));
    },

    'GET /api/farm/events': async (ctx) => {
      const p = await ctx.principal();
      const sink = openEventStream(ctx.req, ctx.res);
      while (!sink.signal.aborted) {
        await sink.send(farmView(farm.status(p)));
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, FARM_INTERVAL_MS);
          sink.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
        });
      }
    },
  };
}

/**
 * A job's events into a stream until its final state or until the browser leaves. `progress`: step progress too;
 * `ids`: events carry their sequence as the SSE id, so a reconnect resumes (one job per stream only).
 */
async function forward(
  farm: ClientApi, p: Principal, jobId: string, after: number, sink: EventSink, o: { progress: boolean; ids: boolean }, log: Logger,
): Promise<void> {
  try {
    for await (const e of farm.events(p, jobId, after, sink.signal, { images: false, progress: o.progress })) {
      const live: LiveEvent = liveEvent(jobId, e);
      // Progress events repeat the last sequence; only the others move the stream's resume point.
      await sink.send(live, o.ids && e.kind !== 'progress' ? { id: e.seq } : {});
    }
  } catch (err) {
    if (sink.signal.aborted) return;
    // A job of the page that is gone or not the caller's is left out; anything else ends its part of the stream, logged.
    if (httpStatus(err) >= 500) log.warn({ err, job: jobId }, 'console event stream failed');
    await sink.send({ jobId, error: err instanceof Error ? err.message : String(err) }, { event: 'job-error' });
  }
}

function extension(mime: string, format: string): string {
  if (mime === 'image/jpeg') return 'jpg';
  if (mime === 'image/webp') return 'webp';
  if (mime === 'image/png') return 'png';
  return format === 'jpeg' ? 'jpg' : format;
}
