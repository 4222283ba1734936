// Where the coordinator keeps everything that must outlive a request: jobs,
// their waiting tasks, the event log WatchJob replays, images, idempotency
// keys and dead letters. One interface, two implementations (embedded and
// JetStream), one contract test suite (store.contract.ts) for both.
import type { ImageCounts, ImageInfo, JobSpec, JobState, ResolvedParams } from '@latentfarm/proto';

export interface JobRecord {
  id: string;
  /**
   * Who submitted it: a tenant id, or '' for an admin (see farm/principal.ts).
   * Records from before owners existed lack it and read as an admin's job.
   */
  owner: string;
  /** The spec as accepted; params.seed is always set. */
  spec: JobSpec;
  total: number;
  promptCount: number;
  createdUnixMs: number;
  estimatedCredits: number;
  state: JobState;
  startedUnixMs: number;
  finishedUnixMs: number;
  reason: string;
}

/** Everything a worker needs to render one image, plus its retry history. */
export interface TaskSpec {
  jobId: string;
  index: number;
  entryIndex: number;
  prompt: string;
  negativePrompt: string;
  params: ResolvedParams;
  /** Failures reported by workers so far. */
  attempts: number;
  /** Leases lost with their worker (disconnect, silence) so far. */
  losses: number;
}

/** The tasks of a job, made on demand so a million-image job is not a million objects at once. */
export interface TaskSource {
  readonly total: number;
  task(index: number): TaskSpec;
}

/** Tasks `from` up to `to` (exclusive) of one job: a chunk of a job submitted by stream. */
export interface TaskRange {
  readonly from: number;
  readonly to: number;
  task(index: number): TaskSpec;
}

/**
 * A job being written as its prompts arrive (SubmitJobStream): its tasks go to
 * the store chunk by chunk instead of being held in the coordinator's memory,
 * and the record comes last, so the job is seen (and its tasks leased) only
 * once it is whole. A crash before the record leaves tasks that the store
 * removes (embedded: at the next open) or that nothing ever leases (JetStream).
 */
export interface JobWriter {
  readonly jobId: string;
  /** Writes these tasks; none is leasable before commit. */
  addTasks(tasks: TaskRange): Promise<void>;
  /** Stores the record: the job and all the tasks written become visible together. */
  commit(job: JobRecord): Promise<void>;
  /** Removes every task written so far: nothing of the job is kept. */
  discard(): Promise<void>;
}

/** A task taken from the store. `epoch` grows with every lease of the same task. */
export interface StoredLease {
  readonly task: TaskSpec;
  readonly epoch: number;
}

export type FarmEvent =
  | { seq: number; unixMs: number; kind: 'state'; state: JobState; counts: ImageCounts; reason: string }
  | { seq: number; unixMs: number; kind: 'image'; info: ImageInfo };

export type NewEvent =
  | { kind: 'state'; state: JobState; counts: ImageCounts; reason: string }
  | { kind: 'image'; info: ImageInfo };

export interface StoredImage {
  data: Uint8Array;
  mimeType: string;
}

/** Which jobs a listing wants (ListJobs). */
export interface JobFilter {
  /** Only this owner's jobs; undefined: every owner's (an admin asks). */
  owner?: string | undefined;
  /** Empty: any state. */
  states: readonly JobState[];
  /** Every label given must match. */
  labels: Readonly<Record<string, string>>;
  /** Only jobs created at or after this; 0: any time. */
  createdAfterMs: number;
}

/**
 * A place in the listing order (newest first: creation time, then id, both descending): the last job a page
 * held. The next page starts after it, so jobs created or expired meanwhile never shift or repeat a page.
 */
export interface JobCursor {
  createdUnixMs: number;
  id: string;
}

export interface Store {
  readonly kind: 'embedded' | 'jetstream';

  // ---- jobs
  /** Records `key` for `jobId` unless taken (atomically); returns the job id that holds it. */
  claimIdempotencyKey(key: string, jobId: string): Promise<string>;
  /** The job id that holds `key`, without claiming it; undefined when none does (or only a claim whose job was never made). */
  idempotencyKeyHolder(key: string): Promise<string | undefined>;
  /** Stores the job and makes all its tasks leasable. */
  createJob(job: JobRecord, tasks: TaskSource): Promise<void>;
  /** Starts writing a job whose tasks arrive in chunks (see JobWriter). */
  beginJob(jobId: string): JobWriter;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Job ids, oldest first. */
  listJobIds(): Promise<string[]>;
  /** Compare-and-set update: `change` returns the new record, or undefined to leave it. Retries on conflict. */
  updateJob(id: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined>;
  /** Calls `listener` whenever any job record changes (also changes made by other coordinators). */
  onJobChange(listener: (job: JobRecord) => void): void;
  /** Jobs matching `filter`, newest first, starting after `after` (undefined: from the newest), at most `limit`. */
  listJobs(filter: JobFilter, after: JobCursor | undefined, limit: number): Promise<JobRecord[]>;

  // ---- retention
  /**
   * Deletes finished jobs (succeeded, partial, failed, cancelled) that finished before `finishedBeforeMs`, oldest
   * first, at most `limit`, each with its tasks, events, dead letters, idempotency key and images; returns their ids.
   * Never touches a queued or running job. Idempotent: a job half expired by a crash (or by another coordinator)
   * is finished by the next call.
   */
  expireJobs(finishedBeforeMs: number, limit: number): Promise<string[]>;
  /**
   * Expires the oldest finished jobs, as expireJobs does, while the stored images of all jobs take more than
   * `maxImageBytes` (embedded: the committed images' sizes; JetStream: the bytes of the images bucket's stream and
   * of the events stream, which holds the small images); at most `limit`. Images of queued and running jobs count
   * but never go, so the total may stay above the cap.
   */
  expireToFit(maxImageBytes: number, limit: number): Promise<string[]>;
  /** Calls `listener` with the id of every job expired (also by other coordinators, where the store is shared). */
  onJobExpired(listener: (jobId: string) => void): void;

  // ---- tasks
  /** Leases up to `max` waiting tasks of one job. */
  leaseTasks(jobId: string, max: number): Promise<StoredLease[]>;
  /** Keeps a lease alive while its worker is alive. */
  extendLease(lease: StoredLease): void;
  /** The task is finished (its image committed or failed for good). */
  completeLease(lease: StoredLease): Promise<void>;
  /** The task goes back to wait; `lost` counts against its loss budget. */
  returnLease(lease: StoredLease, lost: boolean): Promise<void>;
  /** The task failed and waits again with `attempts` recorded. */
  retryLease(lease: StoredLease, attempts: number): Promise<void>;
  /** Drops every waiting task of a job (cancel); returns how many (JetStream: those neither committed nor leased here). */
  dropTasks(jobId: string): Promise<number>;
  /** Calls `listener` when tasks of a job become leasable again (created, returned, retried). */
  onTasksWaiting(listener: (jobId: string) => void): void;

  // ---- events
  /**
   * Commits an image's final event exactly once; undefined if it was already committed (embedded: or its job was
   * cancelled). `image`, a successful render's bytes, is stored with it: getImage(info.id) finds them once the
   * commit exists.
   */
  commitImage(jobId: string, index: number, info: ImageInfo, image?: StoredImage): Promise<FarmEvent | undefined>;
  /** Appends a state event; with a `fence`, at most once per job and fence name. */
  appendState(jobId: string, event: Extract<NewEvent, { kind: 'state' }>, fence?: string): Promise<FarmEvent | undefined>;
  /** Events with seq > after, in order, at most `limit`. */
  readEvents(jobId: string, after: number, limit: number): Promise<FarmEvent[]>;
  /** Resolves when events past `after` may exist, or when `signal` aborts. */
  waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void>;
  lastSequence(jobId: string): Promise<number>;
  /** Images committed per outcome. */
  counts(jobId: string): Promise<{ succeeded: number; failed: number }>;
  /** The committed info of one image. */
  imageInfo(jobId: string, index: number): Promise<ImageInfo | undefined>;
  /** Records why a task was given up. */
  deadLetter(task: TaskSpec, reason: string): Promise<void>;

  // ---- images
  getImage(imageId: string): Promise<StoredImage | undefined>;

  /** Resolves true while the backing service is reachable. */
  healthy(): boolean;
  onHealthChange(listener: (healthy: boolean) => void): void;
  close(): Promise<void>;
}
