// What clients do with jobs: submit (whole or as a stream of prompt chunks),
// estimate, read, list and cancel. Validates against the limits and the model
// registry, and turns a record into the Job clients see.
import { randomBytes } from 'node:crypto';
import { CancelledError, InvalidArgumentError, UnavailableError, sleep, type Logger } from '@latentfarm/common';
import { GenerationParams, Job, JobState, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { checkIdLength, checkLabels, excerpt } from '../jobs/bounds.js';
import { validateEntry, validateSpec, withModelDefaults, type Defaults, type Limits } from '../jobs/params.js';
import { EntryTaskSource } from '../jobs/task-source.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { scopedIdempotencyKey } from '../store/job-query.js';
import type { JobRecord, Store } from '../store/store.js';
import { counts, isFinished, type JobTable } from './job-table.js';
import type { Credits } from './credits.js';
import type { LeaseTable } from './lease-table.js';
import type { ModelRegistry } from './model-registry.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import type { CostEstimate, Pricing } from './pricing.js';
import { ownerOf, type Principal } from './principal.js';
import { StreamedJob } from './streamed-job.js';
import type { QuotaGate } from './quota-gate.js';

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

/** One message of a streamed submission: the spec first, then chunks of prompts, then the end. */
export type SubmitItem =
  | { $case: 'spec'; value: JobSpec }
  | { $case: 'prompts'; value: { entries: readonly PromptEntry[] } }
  | { $case: 'end'; value: object }
  | undefined;

export interface JobServiceDeps {
  readonly store: Store;
  readonly jobs: JobTable;
  readonly leases: LeaseTable;
  readonly models: ModelRegistry;
  readonly pricing: Pricing;
  readonly credits: Credits;
  readonly limits: Limits;
  readonly defaults: Defaults;
  readonly maxImagesPerJob: number;
  /** The farm's queue and the tenant's quotas. */
  readonly quotas: QuotaGate;
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
    return this.counted(principal, () => this.create(principal, spec, entries));
  }

  /** Counts a refused submit in the caller's tenant metrics, by reason. */
  private async counted<T>(principal: Principal, submit: () => Promise<T>): Promise<T> {
    try {
      return await submit();
    } catch (err) {
      this.d.metrics.tenants.refused(ownerOf(principal), err);
      throw err;
    }
  }

  private async create(principal: Principal, specIn: JobSpec | undefined, entries: readonly PromptEntry[]): Promise<{ job: Job; created: boolean }> {
    const validated = this.validate(specIn, entries);
    if (entries.length === 0) throw new InvalidArgumentError('entries', 'empty: a job needs at least one prompt');
    if (!this.d.store.healthy()) throw new UnavailableError('the job store is unreachable; the job was not accepted, retry later');
    let total = 0;
    for (const e of entries) total += e.images || 1;
    if (total > this.d.maxImagesPerJob) {
      throw new InvalidArgumentError('entries', `${total} images in one job, at most ${this.d.maxImagesPerJob} allowed: split it into several jobs`);
    }
    const { spec, seed } = withSeed(validated);
    const id = newJobId();
    const estimate = this.d.pricing.estimate(spec, entries);
    const job = { id, spec, total, promptCount: entries.length, credits: estimate.credits, units: estimate.units };
    return this.accept(principal, job, {
      write: (record) => this.d.store.createJob(record, new EntryTaskSource(id, spec, entries, seed, this.d.defaults)),
      discard: () => Promise.resolve(),
    });
  }

  /**
   * The spec, then prompts in chunks. Each chunk is checked and written to the
   * store as it arrives (StreamedJob), so memory holds one chunk, not the job;
   * the job's record is made when the stream ends. Whatever ends the stream
   * early (a bad entry, the image limit passed, the caller gone) discards
   * what was written.
   */
  submitStream(principal: Principal, items: AsyncIterable<SubmitItem>): Promise<{ job: Job; created: boolean }> {
    return this.counted(principal, () => this.receiveStream(principal, items));
  }

  private async receiveStream(principal: Principal, items: AsyncIterable<SubmitItem>): Promise<{ job: Job; created: boolean }> {
    let job: StreamedJob | undefined;
    let ended = false;
    let affordable: ((units: number) => Promise<void>) | undefined;
    try {
      for await (const item of items) {
        if (ended) throw new InvalidArgumentError('end', 'must be the last message of the stream');
        if (item?.$case === 'spec') {
          if (job !== undefined) throw new InvalidArgumentError('spec', 'sent twice: the spec must be the first message, once');
          const { spec, seed } = withSeed(this.validate(item.value, []));
          job = new StreamedJob(this.d, newJobId(), spec, seed);
          // A retry of a stream already accepted gets its job whatever the balance is now (see accept): no early refusal.
          const owner = ownerOf(principal);
          const held = spec.idempotencyKey === '' ? undefined : await this.d.store.idempotencyKeyHolder(scopedIdempotencyKey(owner, spec.idempotencyKey));
          if (held === undefined) affordable = this.d.credits.runningCheck(owner);
        } else if (item?.$case === 'prompts') {
          if (job === undefined) throw new InvalidArgumentError('spec', 'missing: the first message must carry the spec');
          await job.add(item.value.entries);
          await affordable?.(job.units);
          this.d.log.debug({ job: job.id, prompts: job.promptCount }, 'streamed prompts written');
        } else if (item?.$case === 'end') {
          ended = true;
        } else {
          throw new InvalidArgumentError('item', 'empty message: send a spec, prompts or the end');
        }
      }
      // Over HTTP/2 a client cancelled or killed mid-stream can look like one that finished sending: only the end
      // message says the prompts are all there.
      if (!ended) throw new IncompleteStreamError();
      if (job === undefined) throw new InvalidArgumentError('spec', 'missing: the stream carried no spec');
      if (job.promptCount === 0) throw new InvalidArgumentError('entries', 'empty: a job needs at least one prompt');
      if (!this.d.store.healthy()) throw new UnavailableError('the job store is unreachable; the job was not accepted, retry later');
      const streamed = job;
      return await this.accept(principal, { id: job.id, spec: job.spec, total: job.images, promptCount: job.promptCount, credits: job.credits, units: job.units }, {
        write: (record) => streamed.commit(record),
        discard: () => streamed.discard(),
      });
    } catch (err) {
      await job?.discard().catch((e: unknown) => this.d.log.warn({ err: e, job: job?.id }, 'could not discard the tasks of a refused stream'));
      if (err instanceof CancelledError || err instanceof IncompleteStreamError) {
        this.d.log.info({ job: job?.id, prompts: job?.promptCount ?? 0 }, 'stream submission cancelled or cut off before its end: nothing kept');
      }
      throw err;
    }
  }

  /**
   * Makes a checked job: a key already held answers with its job (this one's
   * tasks discarded); then the farm queue and the tenant's quotas are checked
   * before the key is claimed, so a refusal leaves the key free for a retry;
   * then the record is written with `write`.
   */
  private async accept(
    principal: Principal, j: { id: string; spec: JobSpec; total: number; promptCount: number; credits: number; units: number },
    tasks: { write: (record: JobRecord) => Promise<void>; discard: () => Promise<void> },
  ): Promise<{ job: Job; created: boolean }> {
    const { store, jobs, metrics } = this.d;
    const { id, spec, total } = j;
    const owner = ownerOf(principal);
    // Keys are per owner: another tenant's key of the same spelling names another job (and never reveals it).
    const key = spec.idempotencyKey === '' ? '' : scopedIdempotencyKey(owner, spec.idempotencyKey);
    // A retry of a submit that was accepted gets its job, whatever the quotas or the balance say now (it was paid
    // for once); the quotas and credits are checked before the key is claimed, so a refused submit leaves its key
    // free for the retry its RetryInfo invites.
    const held = key === '' ? undefined : await store.idempotencyKeyHolder(key);
    if (held !== undefined) {
      await tasks.discard();
      return { job: await this.existingJob(principal, held, spec.idempotencyKey), created: false };
    }
    await this.d.quotas.admit(principal, total);
    // Reserved before the key is claimed and the job created: a refusal writes nothing, the key included. A crash
    // before the job exists leaves a reservation the reconciler releases (farm/credits.ts).
    try {
      await this.d.credits.reserve(owner, id, j.units, spec.model);
    } catch (err) {
      // A submit of the same key may have made the job meanwhile: that is the answer, not the refusal.
      const raced = key === '' ? undefined : await this.madeFor(principal, key);
      if (raced !== undefined) {
        await tasks.discard();
        return { job: raced, created: false };
      }
      throw err;
    }
    if (key !== '') {
      const holder = await store.claimIdempotencyKey(key, id).catch(async (err: unknown) => {
        await this.release(owner, id);
        throw err;
      });
      if (holder !== id) {
        // Another submit of the key got there first: this one's reservation goes back, and its job is the answer.
        await this.release(owner, id);
        await tasks.discard();
        return { job: await this.existingJob(principal, holder, spec.idempotencyKey), created: false };
      }
    }
    const record: JobRecord = {
      id, owner, spec, total, promptCount: j.promptCount, createdUnixMs: Date.now(), estimatedCredits: j.credits,
      state: JobState.QUEUED, startedUnixMs: 0, finishedUnixMs: 0, reason: '',
    };
    try {
      await tasks.write(record);
    } catch (err) {
      await this.release(owner, id);
      throw err;
    }
    jobs.apply(record);
    await store.appendState(id, { kind: 'state', state: JobState.QUEUED, counts: counts(total, 0, 0, 0), reason: '' }, 'queued');
    metrics.jobsSubmitted.inc();
    metrics.imagesSubmitted.inc({ model: spec.model }, total);
    metrics.tenants.submitted(owner, total);
    this.d.log.info({ job: id, images: total, prompts: j.promptCount, model: spec.model, priority: spec.priority }, 'job accepted');
    this.d.onSubmitted();
    if (!(await this.d.credits.stillReserved(owner, id))) {
      // Creating it took longer than the reconciler's grace: its credits were released, so it must not run unpaid.
      await this.cancel(principal, id, 'its credit reservation was released before it was created; submit it again');
    }
    return { job: await this.toJob(await this.d.jobs.lookup(id) ?? record), created: true };
  }

  /** The job `key` (scoped) names when it exists; undefined when no job holds the key yet. */
  private async madeFor(principal: Principal, key: string): Promise<Job | undefined> {
    const holder = await this.d.store.idempotencyKeyHolder(key);
    const job = holder === undefined ? undefined : await this.d.jobs.lookup(holder);
    return job === undefined ? undefined : this.toJob(await this.d.jobs.find(principal, job.id));
  }

  /** The job was not made after all: its reservation goes back (a failure here is left to the reconciler). */
  private async release(owner: string, id: string): Promise<void> {
    await this.d.credits.release(owner, id).catch((err: unknown) => this.d.log.warn({ err, job: id }, 'releasing the credits of a job not made failed; the reconciler will'));
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

  async cancel(principal: Principal, id: string, reason = 'cancelled by request'): Promise<Job> {
    const { store, jobs } = this.d;
    checkIdLength('job_id', id, this.d.limits.maxIdChars);
    await jobs.find(principal, id);
    const changed = await store.updateJob(id, (j) => (isFinished(j) ? undefined : { ...j, state: JobState.CANCELLED, finishedUnixMs: Date.now(), reason }));
    if (changed !== undefined) {
      const dropped = await store.dropTasks(id);
      jobs.apply(changed);
      const c = await store.counts(id);
      const cancelled = changed.total - c.succeeded - c.failed;
      this.d.metrics.imagesCancelled.inc(cancelled);
      this.d.metrics.tenants.cancelled(changed.owner, cancelled);
      await store.appendState(id, { kind: 'state', state: JobState.CANCELLED, counts: counts(changed.total, c.succeeded, c.failed, cancelled), reason }, 'end');
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

/** The spec with its job seed set: the one it names, else a random one. */
function withSeed(validated: JobSpec): { spec: JobSpec; seed: number } {
  const seed = validated.params?.seed ?? randomBytes(4).readUInt32LE(0);
  return { spec: { ...validated, params: GenerationParams.fromPartial({ ...validated.params, seed }) }, seed };
}

/** A stream that stopped without its end message: its client was cancelled or broke off (or never sends one). */
class IncompleteStreamError extends InvalidArgumentError {
  constructor() {
    super('end', 'missing: the stream stopped before its end message, so no job was made (send `end` last)');
  }
}

function newJobId(): string {
  // Time-ordered prefix (so ids sort by creation) and 48 random bits.
  return `j${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}
