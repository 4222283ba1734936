// What clients do with jobs: submit (whole or as a stream of prompt chunks),
// estimate, read, list and cancel. Validates against the limits and the model
// registry, and turns a record into the Job clients see.
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError, sleep, type Logger } from '@latentfarm/common';
import { GenerationParams, Job, JobState, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { checkIdLength, checkLabels, excerpt } from '../jobs/bounds.js';
import { validateEntry, validateSpec, withModelDefaults, type Defaults, type Limits } from '../jobs/params.js';
import { EntryTaskSource } from '../jobs/task-source.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { scopedIdempotencyKey } from '../store/job-query.js';
import type { JobRecord, Store } from '../store/store.js';
import { counts, isFinished, type JobTable } from './job-table.js';
import type { LeaseTable } from './lease-table.js';
import type { ModelRegistry } from './model-registry.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { CostEstimate, Pricing } from './pricing.js';
import { ownerOf, type Principal } from './principal.js';

/**
 * Most bytes of jobs in one ListJobs page: a page ends early rather than pass
 * 4 MiB, the receive limit of a gRPC client left at its defaults (each job is
 * bounded by the label and id limits, so at least one always fits).
 */
export const MAX_LIST_PAGE_BYTES = 3.5 * 1024 * 1024;
/** A created-after time this far past the server's clock is taken for a clock a little ahead, not an error. */
const FUTURE_SLACK_MS = 60_000;

/** Which jobs ListJobs returns, newest first (creation time, then id). */
export interface JobQuery {
  /** 0: 50; at most 1000. */
  pageSize: number;
  /** Empty for the first page, else a token a previous page gave (page-token.ts). */
  pageToken: string;
  /** Only jobs created at or after this; 0 or absent: any time. */
  createdAfterUnixMs?: number;
  /** Empty: any state. */
  states: readonly JobState[];
  /** Every label given must match. */
  labels: Readonly<Record<string, string>>;
}

/** One message of a streamed submission: the spec first, then chunks of prompts. */
export type SubmitItem =
  | { $case: 'spec'; value: JobSpec }
  | { $case: 'prompts'; value: { entries: readonly PromptEntry[] } }
  | undefined;

export interface JobServiceDeps {
  readonly store: Store;
  readonly jobs: JobTable;
  readonly leases: LeaseTable;
  readonly models: ModelRegistry;
  readonly pricing: Pricing;
  readonly limits: Limits;
  readonly defaults: Defaults;
  readonly maxImagesPerJob: number;
  readonly maxQueuedImages: number;
  readonly metrics: CoordinatorMetrics;
  readonly log: Logger;
  /** A new job may have work for idle workers. */
  readonly onSubmitted: () => void;
}

export class JobService {
  constructor(private readonly d: JobServiceDeps) {}

  /**
   * Validates a whole submission (throws InvalidArgumentError naming the field)
   * and resolves its spec: the model (a job that names none gets the farm's
   * default) and the size and scheduler it leaves unset (the model's own).
   */
  private validate(spec: JobSpec | undefined, entries: readonly PromptEntry[], firstIndex = 0): JobSpec {
    const s = validateSpec(spec, this.d.limits);
    entries.forEach((e, i) => validateEntry(e, firstIndex + i, this.d.limits));
    const model = this.d.models.resolve(s.model);
    return { ...s, model, params: withModelDefaults(s.params, this.d.models.defaultsFor(model)) };
  }

  submit(principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): Promise<{ job: Job; created: boolean }> {
    return this.create(principal, spec, entries, false);
  }

  /** The spec, then prompts in chunks; each chunk is validated as it arrives, and the job is made when the stream ends. */
  async submitStream(principal: Principal, items: AsyncIterable<SubmitItem>): Promise<{ job: Job; created: boolean }> {
    let spec: JobSpec | undefined;
    const entries: PromptEntry[] = [];
    let images = 0;
    for await (const item of items) {
      if (item?.$case === 'spec') {
        if (spec !== undefined) throw new InvalidArgumentError('spec', 'sent twice: the spec must be the first message, once');
        spec = this.validate(item.value, []);
      } else if (item?.$case === 'prompts') {
        if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: the first message must carry the spec');
        this.validate(spec, item.value.entries, entries.length);
        for (const e of item.value.entries) {
          entries.push(e);
          images += e.images || 1;
        }
        // Refused as soon as it is too big, not after the stream has been held in memory to its end.
        if (images > this.d.maxImagesPerJob) {
          throw new InvalidArgumentError('entries', `more than ${this.d.maxImagesPerJob} images in one job: split it into several jobs`);
        }
      } else {
        throw new InvalidArgumentError('item', 'empty message: send a spec or prompts');
      }
    }
    if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: the stream carried no spec');
    return this.create(principal, spec, entries, true);
  }

  /** `entriesChecked`: the stream path validated each chunk as it arrived; no need to walk a million entries twice. */
  private async create(principal: Principal, specIn: JobSpec | undefined, entries: readonly PromptEntry[], entriesChecked: boolean): Promise<{ job: Job; created: boolean }> {
    const { store, jobs, metrics } = this.d;
    const validated = this.validate(specIn, entriesChecked ? [] : entries);
    if (entries.length === 0) throw new InvalidArgumentError('entries', 'empty: a job needs at least one prompt');
    if (!store.healthy()) throw new UnavailableError('the job store is unreachable; the job was not accepted, retry later');
    let total = 0;
    for (const e of entries) total += e.images || 1;
    if (total > this.d.maxImagesPerJob) {
      throw new InvalidArgumentError('entries', `${total} images in one job, at most ${this.d.maxImagesPerJob} allowed: split it into several jobs`);
    }
    const id = newJobId();
    const owner = ownerOf(principal);
    if (validated.idempotencyKey !== '') {
      // Keys are per owner: another tenant's key of the same spelling names another job (and never reveals it).
      const holder = await store.claimIdempotencyKey(scopedIdempotencyKey(owner, validated.idempotencyKey), id);
      if (holder !== id) return { job: await this.existingJob(principal, holder, validated.idempotencyKey), created: false };
    }
    const waiting = jobs.waitingImages();
    if (waiting + total > this.d.maxQueuedImages) {
      throw new ResourceExhaustedError(`the farm queue is full (${waiting} images waiting, limit ${this.d.maxQueuedImages}); retry later or submit fewer images`);
    }
    const seed = validated.params?.seed ?? randomBytes(4).readUInt32LE(0);
    const spec: JobSpec = { ...validated, params: GenerationParams.fromPartial({ ...validated.params, seed }) };
    const record: JobRecord = {
      id, owner, spec, total, promptCount: entries.length, createdUnixMs: Date.now(), estimatedCredits: this.d.pricing.estimate(spec, entries).credits,
      state: JobState.QUEUED, startedUnixMs: 0, finishedUnixMs: 0, reason: '',
    };
    await store.createJob(record, new EntryTaskSource(id, spec, entries, seed, this.d.defaults));
    jobs.apply(record);
    await store.appendState(id, { kind: 'state', state: JobState.QUEUED, counts: counts(total, 0, 0, 0), reason: '' }, 'queued');
    metrics.jobsSubmitted.inc();
    metrics.imagesSubmitted.inc({ model: spec.model }, total);
    this.d.log.info({ job: id, images: total, prompts: entries.length, model: spec.model, priority: spec.priority }, 'job accepted');
    this.d.onSubmitted();
    return { job: await this.toJob(await this.d.jobs.lookup(id) ?? record), created: true };
  }

  /** The job an idempotency key names; another coordinator may still be creating it. */
  private async existingJob(principal: Principal, id: string, key: string): Promise<Job> {
    for (let i = 0; i < 50; i++) {
      const job = await this.d.jobs.lookup(id);
      if (job !== undefined) return this.toJob(await this.d.jobs.find(principal, job.id));
      await sleep(100);
    }
    throw new UnavailableError(`the job for idempotency key ${excerpt(key)} is still being created; retry`);
  }

  /** The cost of a submission, without submitting it. */
  estimate(_principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): CostEstimate {
    const validated = this.validate(spec, entries);
    if (entries.length === 0) throw new InvalidArgumentError('entries', 'empty: estimate needs at least one prompt');
    return this.d.pricing.estimate(validated, entries);
  }

  async job(principal: Principal, id: string): Promise<Job> {
    checkIdLength('job_id', id, this.d.limits.maxIdChars);
    return this.toJob(await this.d.jobs.find(principal, id));
  }

  async list(principal: Principal, q: JobQuery): Promise<{ jobs: Job[]; nextPageToken: string }> {
    const size = q.pageSize === 0 ? 50 : Math.min(q.pageSize, 1000);
    checkIdLength('page_token', q.pageToken, this.d.limits.maxIdChars);
    checkLabels('labels', q.labels, this.d.limits);
    const after = decodePageToken(q.pageToken);
    const createdAfterMs = q.createdAfterUnixMs ?? 0;
    if (createdAfterMs < 0 || createdAfterMs > Date.now() + FUTURE_SLACK_MS) {
      throw new InvalidArgumentError('created_after_unix_ms', `${createdAfterMs} is ${createdAfterMs < 0 ? 'negative' : 'in the future'}: give a time in ms since 1970, or 0 for any time`);
    }
    if (principal.kind === 'worker') return { jobs: [], nextPageToken: '' };
    // The store filters and pages (tenants see their own jobs only); one job more than asked says whether more follow.
    const filter = { owner: principal.kind === 'admin' ? undefined : ownerOf(principal), states: q.states, labels: q.labels, createdAfterMs };
    const found = await this.d.store.listJobs(filter, after, size + 1);
    const out: Job[] = [];
    let bytes = 0;
    for (const j of found.slice(0, size)) {
      const job = await this.toJob(this.d.jobs.get(j.id) ?? j);
      // Field tag and length prefix included, as the job sits in the response.
      const jobBytes = Job.encode(job).finish().length + 8;
      if (out.length > 0 && bytes + jobBytes > MAX_LIST_PAGE_BYTES) break;
      bytes += jobBytes;
      out.push(job);
    }
    const last = out.at(-1);
    const more = out.length < found.length && last !== undefined;
    return { jobs: out, nextPageToken: more ? encodePageToken(last) : '' };
  }

  async cancel(principal: Principal, id: string): Promise<Job> {
    const { store, jobs } = this.d;
    checkIdLength('job_id', id, this.d.limits.maxIdChars);
    await jobs.find(principal, id);
    const changed = await store.updateJob(id, (j) => (isFinished(j) ? undefined : { ...j, state: JobState.CANCELLED, finishedUnixMs: Date.now(), reason: 'cancelled by request' }));
    if (changed !== undefined) {
      const dropped = await store.dropTasks(id);
      jobs.apply(changed);
      const c = await store.counts(id);
      const cancelled = changed.total - c.succeeded - c.failed;
      this.d.metrics.imagesCancelled.inc(cancelled);
      await store.appendState(id, { kind: 'state', state: JobState.CANCELLED, counts: counts(changed.total, c.succeeded, c.failed, cancelled), reason: 'cancelled by request' }, 'end');
      this.d.log.info({ job: id, dropped }, 'job cancelled');
    }
    return this.toJob(await jobs.find(principal, id));
  }

  private async toJob(job: JobRecord): Promise<Job> {
    const { store } = this.d;
    const [c, lastSequence] = await Promise.all([store.counts(job.id), store.lastSequence(job.id)]);
    const cancelled = job.state === JobState.CANCELLED ? job.total - c.succeeded - c.failed : 0;
    const running = isFinished(job) ? 0 : this.d.leases.countOf(job.id);
    return {
      id: job.id, spec: job.spec, state: job.state, images: counts(job.total, c.succeeded, c.failed, cancelled, running),
      promptCount: job.promptCount, estimatedCredits: job.estimatedCredits,
      // Credits are charged pro rata per rendered image.
      spentCredits: job.total > 0 ? (job.estimatedCredits * c.succeeded) / job.total : 0,
      createdUnixMs: job.createdUnixMs, startedUnixMs: job.startedUnixMs, finishedUnixMs: job.finishedUnixMs, lastSequence,
    };
  }
}

function newJobId(): string {
  // Time-ordered prefix (so ids sort by creation) and 48 random bits.
  return `j${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}
