// A typed SDK over the generated callback-style client: promises, async
// iterables for streams, deadlines, retries for idempotent calls, and a
// WatchJob that resumes by sequence number after a dropped connection.
import { setTimeout as sleep } from 'node:timers/promises';
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  RenderFarmClient,
  type CancelJobResponse, type EstimateCostRequest, type EstimateCostResponse, type GetFarmStatusResponse, type GetCreditsRequest, type GetCreditsResponse,
  type ImageCounts, type ImageInfo, type ImageStep, type Job, type JobSpec, type JobState, type ListJobsRequest,
  type ListJobsResponse, type PromptEntry, type SubmitJobResponse, type SubmitJobStreamRequest, type WatchJobResponse,
} from '@latentfarm/proto';
import { apiKeyOptions } from './api-key.js';
import { backoffMs } from './backoff.js';
import { retryUnavailable, type RetryInfo, type RetryPolicy } from './retry.js';

export { status as GrpcStatus };
export type { RetryInfo, ServiceError };

export interface ClientOptions {
  /** Deadline of each unary call, retries included. */
  deadlineMs?: number;
  /** Most attempts of a retryable call on UNAVAILABLE (default: as many as fit before the deadline). */
  retries?: number;
  /** Told before each retry, e.g. to say so on a terminal. */
  onRetry?: (retry: RetryInfo) => void;
  /**
   * Connect over TLS, verifying the coordinator's certificate against `ca`
   * (PEM), or against the system's CAs when `ca` is not given. Without it the
   * channel is plaintext.
   */
  tls?: { ca?: Buffer };
  /** API key (`lf_…`) sent with every call as `authorization: Bearer`; default LATENTFARM_API_KEY. Empty: none (a farm run without auth). */
  apiKey?: string;
}

export type WatchEvent =
  | { type: 'state'; sequence: number; unixMs: number; state: JobState; counts: ImageCounts; reason: string }
  | { type: 'progress'; sequence: number; images: ImageStep[] }
  | { type: 'image'; sequence: number; unixMs: number; info: ImageInfo; data: Buffer };

export interface WatchOptions {
  afterSequence?: number;
  referencesOnly?: boolean;
  noProgress?: boolean;
  /** Reconnect and resume after a dropped stream (default true). */
  resume?: boolean;
  signal?: AbortSignal;
}

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export class FarmClient {
  readonly raw: RenderFarmClient;
  private readonly deadlineMs: number;
  private readonly retryPolicy: RetryPolicy;

  constructor(readonly address: string, options: ClientOptions = {}) {
    const channel = options.tls === undefined ? credentials.createInsecure() : credentials.createSsl(options.tls.ca ?? null);
    this.raw = new RenderFarmClient(address, channel, {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...apiKeyOptions(options.apiKey ?? process.env['LATENTFARM_API_KEY']),
    });
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.retryPolicy = { retries: options.retries ?? Infinity, onRetry: options.onRetry };
  }

  close(): void {
    this.raw.close();
  }

  private unary<Req, Res>(name: string, method: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req, retryable: boolean): Promise<Res> {
    const deadline = new Date(Date.now() + this.deadlineMs);
    const once = () => new Promise<Res>((resolve, reject) => {
      method.call(this.raw, req, new Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
    });
    return retryable ? this.retry(name, deadline, once) : once();
  }

  /** Tries again on UNAVAILABLE (retry.ts). */
  private retry<T>(method: string, deadline: Date, fn: () => Promise<T>): Promise<T> {
    return retryUnavailable(method, deadline, this.retryPolicy, fn);
  }

  /**
   * Submits in one message. Retried on UNAVAILABLE (until the deadline) only
   * when the spec has an idempotency key, so a retry can never make a second job.
   */
  submitJob(spec: JobSpec, entries: PromptEntry[]): Promise<SubmitJobResponse> {
    return this.unary('SubmitJob', this.raw.submitJob, { spec, entries }, spec.idempotencyKey !== '');
  }

  /**
   * Submits any number of prompts by client stream, `chunk` entries per
   * message. Retried like submitJob when the spec has an idempotency key and
   * `entries` is an array (an iterator cannot be read twice).
   */
  submitJobStream(spec: JobSpec, entries: Iterable<PromptEntry> | AsyncIterable<PromptEntry>, chunk = 1000): Promise<SubmitJobResponse> {
    const once = () => this.submitJobStreamOnce(spec, entries, chunk);
    if (spec.idempotencyKey === '' || !Array.isArray(entries)) return once();
    return this.retry('SubmitJobStream', new Date(Date.now() + this.deadlineMs), once);
  }

  private submitJobStreamOnce(spec: JobSpec, entries: Iterable<PromptEntry> | AsyncIterable<PromptEntry>, chunk: number): Promise<SubmitJobResponse> {
    return new Promise((resolve, reject) => {
      const call = this.raw.submitJobStream((err, res) => (err ? reject(err) : resolve(res)));
      const write = (m: SubmitJobStreamRequest): Promise<void> =>
        new Promise((ok) => { if (call.write(m)) ok(); else call.once('drain', ok); });
      (async () => {
        await write({ item: { $case: 'spec', value: spec } });
        let batch: PromptEntry[] = [];
        for await (const e of entries) {
          batch.push(e);
          if (batch.length >= chunk) {
            await write({ item: { $case: 'prompts', value: { entries: batch } } });
            batch = [];
          }
        }
        if (batch.length > 0) await write({ item: { $case: 'prompts', value: { entries: batch } } });
        // Only this says the prompts are complete: a stream cut off before it makes no job.
        await write({ item: { $case: 'end', value: {} } });
        call.end();
      })().catch((err: unknown) => { call.cancel(); reject(err); });
    });
  }

  getJob(jobId: string): Promise<Job> {
    return this.unary('GetJob', this.raw.getJob, { jobId }, true).then((r) => r.job as Job);
  }

  listJobs(req: Partial<ListJobsRequest> = {}): Promise<ListJobsResponse> {
    return this.unary('ListJobs', this.raw.listJobs, { pageSize: 0, pageToken: '', states: [], labels: {}, createdAfterUnixMs: 0, ...req }, true);
  }

  cancelJob(jobId: string): Promise<CancelJobResponse> {
    return this.unary('CancelJob', this.raw.cancelJob, { jobId }, true);
  }

  estimateCost(req: EstimateCostRequest): Promise<EstimateCostResponse> {
    return this.unary('EstimateCost', this.raw.estimateCost, req, true);
  }

  getFarmStatus(): Promise<GetFarmStatusResponse> {
    return this.unary('GetFarmStatus', this.raw.getFarmStatus, {}, true);
  }

  /** The caller's credits and ledger entries, newest first (a tenant key: its own; an admin key: `tenantId`'s). */
  getCredits(req: Partial<GetCreditsRequest> = {}): Promise<GetCreditsResponse> {
    return this.unary('GetCredits', this.raw.getCredits, { tenantId: '', pageSize: 0, pageToken: '', ...req }, true);
  }

  async getImage(imageId: string): Promise<{ info: ImageInfo; data: Buffer }> {
    const deadline = new Date(Date.now() + this.deadlineMs);
    return this.retry('GetImage', deadline, async () => {
      const call = this.raw.getImage({ imageId }, { deadline });
      let info: ImageInfo | undefined;
      const parts: Buffer[] = [];
      for await (const m of call as AsyncIterable<{ info?: ImageInfo; data: Buffer }>) {
        info ??= m.info;
        parts.push(m.data);
      }
      if (info === undefined) throw new Error(`GetImage ${imageId}: the server sent no image info`);
      return { info, data: Buffer.concat(parts) };
    });
  }

  /**
   * Watches a job until it ends, yielding whole images (chunks joined). After a
   * dropped stream it reconnects with the last complete sequence, so nothing is
   * missed and nothing is seen twice.
   */
  async *watch(jobId: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    let after = options.afterSequence ?? 0;
    const resume = options.resume ?? true;
    for (let attempt = 0; ; ) {
      const call: ClientReadableStream<WatchJobResponse> = this.raw.watchJob({
        jobId, afterSequence: after, referencesOnly: options.referencesOnly ?? false, noProgress: options.noProgress ?? false,
      });
      const abort = () => call.cancel();
      options.signal?.addEventListener('abort', abort, { once: true });
      let parts: Buffer[] = [];
      let info: ImageInfo | undefined;
      try {
        for await (const m of call as AsyncIterable<WatchJobResponse>) {
          attempt = 0;
          const ev = m.event;
          if (ev?.$case === 'state') {
            after = m.sequence;
            yield { type: 'state', sequence: m.sequence, unixMs: m.unixMs, state: ev.value.state, counts: ev.value.images as ImageCounts, reason: ev.value.reason };
          } else if (ev?.$case === 'progress') {
            yield { type: 'progress', sequence: m.sequence, images: ev.value.images };
          } else if (ev?.$case === 'image') {
            if (ev.value.chunkIndex === 0) {
              parts = [];
              info = ev.value.info;
            }
            parts.push(ev.value.data);
            if (ev.value.lastChunk && info !== undefined) {
              after = m.sequence;
              yield { type: 'image', sequence: m.sequence, unixMs: m.unixMs, info, data: Buffer.concat(parts) };
            }
          }
        }
        return;
      } catch (err) {
        if (options.signal?.aborted) return;
        const code = (err as ServiceError).code;
        if (!resume || !(code === status.UNAVAILABLE || code === status.CANCELLED || code === status.INTERNAL || code === status.UNKNOWN)) throw err;
        await sleep(backoffMs(attempt++, 100, 5000));
      } finally {
        options.signal?.removeEventListener('abort', abort);
      }
    }
  }
}
