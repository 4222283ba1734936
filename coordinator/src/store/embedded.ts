// The embedded store: a SQLite database in the data directory
// (<dir>/latentfarm.db: jobs, tasks, events, idempotency keys, dead letters,
// small images) with larger images as files beside it (image-files.ts). No setup, one
// coordinator process; everything it has acknowledged survives the process
// being killed, and a restart with the same directory resumes where it was:
// leased tasks wait again, watchers resume from their sequence number.
import type Database from 'better-sqlite3';
import { FinishReason, JobState, type ImageInfo } from '@latentfarm/proto';
import { EmbeddedJobWriter } from './embedded-job-writer.js';
import { ImageFiles } from './image-files.js';
import { parseImageId } from './image-id.js';
import { WriteBatcher } from './sqlite-batch.js';
import { matchesFilter } from './job-query.js';
import { FINISHED_MS_SQL, IS_FINISHED_SQL, openDatabase } from './sqlite-db.js';
import type {
  FarmEvent, JobCursor, JobFilter, JobRecord, JobWriter, NewEvent, Store, StoredImage, StoredLease, TaskSource, TaskSpec,
} from './store.js';

/**
 * Images up to this size are kept in the database, in the transaction of the commit that names them, instead of a
 * file each (open, write, fdatasync, close, and a directory entry). SQLite reads and writes blobs this small faster
 * than the file system does; a larger image is a file, so the database stays small enough to checkpoint quickly.
 */
export const INLINE_IMAGE_BYTES = 64 * 1024;
/** Job rows read at once while a listing looks for jobs its filter takes. */
const LIST_READ_ROWS = 256;
/** Handed-back tasks rank before never-leased ones (whose rank is their index), in the order they came back. */
const requeueRank = (): number => Date.now() - 4e15;

type TaskBody = Pick<TaskSpec, 'entryIndex' | 'prompt' | 'negativePrompt' | 'params'>;
type EventBody = { kind: 'state'; state: number; counts: Extract<FarmEvent, { kind: 'state' }>['counts']; reason: string } | { kind: 'image'; info: ImageInfo };
interface TaskRow { idx: number; attempts: number; losses: number; spec: string }
interface EventRow { seq: number; unix_ms: number; body: string }
interface JobCounters { last_seq: number; succeeded: number; failed: number; dropped: number }

function toEvent(r: EventRow): FarmEvent {
  return { seq: r.seq, unixMs: r.unix_ms, ...(JSON.parse(r.body) as EventBody) } as FarmEvent;
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded';
  /** Image folders a version that kept no job records left in the data dir (the coordinator logs them). */
  readonly orphanedImageDirs: number;
  private readonly db: Database.Database;
  private readonly batch: WriteBatcher;
  private readonly images: ImageFiles;
  private readonly jobListeners: ((job: JobRecord) => void)[] = [];
  private readonly expiryListeners: ((jobId: string) => void)[] = [];
  private readonly taskListeners: ((jobId: string) => void)[] = [];
  private readonly waiters = new Map<string, Set<() => void>>();
  private nextEpoch: number;
  private readonly q;

  /** Opens (or creates) the store in `dataDir`; throws ConfigError with one line when it cannot. */
  constructor(dataDir: string) {
    const opened = openDatabase(dataDir);
    this.db = opened.db;
    this.orphanedImageDirs = opened.orphanedImageDirs;
    this.batch = new WriteBatcher(this.db);
    this.images = new ImageFiles(dataDir);
    const db = this.db;
    this.q = {
      job: db.prepare<[string], { record: string }>('SELECT record FROM jobs WHERE id = ?'),
      counters: db.prepare<[string], JobCounters>('SELECT last_seq, succeeded, failed, dropped FROM jobs WHERE id = ?'),
      jobState: db.prepare<[string], number>('SELECT state FROM jobs WHERE id = ?').pluck(),
      jobIds: db.prepare<[], { id: string }>('SELECT id FROM jobs ORDER BY rowid').pluck(),
      insertJob: db.prepare<[string, number, number, string]>('INSERT INTO jobs (id, created_ms, state, record) VALUES (?, ?, ?, ?)'),
      updateJob: db.prepare<[number, string, string]>('UPDATE jobs SET state = ?, record = ? WHERE id = ?'),
      claimKey: db.prepare<[string, string]>('INSERT OR IGNORE INTO idempotency_keys (key, job_id) VALUES (?, ?)'),
      keyHolder: db.prepare<[string], { job_id: string }>('SELECT job_id FROM idempotency_keys WHERE key = ?').pluck(),
      insertTask: db.prepare<[string, number, number, string]>('INSERT OR REPLACE INTO tasks (job_id, idx, rank, spec) VALUES (?, ?, ?, ?)'),
      waiting: db.prepare<[string, number], TaskRow>('SELECT idx, attempts, losses, spec FROM tasks WHERE job_id = ? AND leased = 0 ORDER BY rank LIMIT ?'),
      lease: db.prepare<[string, number]>('UPDATE tasks SET leased = 1 WHERE job_id = ? AND idx = ?'),
      saveEpoch: db.prepare<[number]>('INSERT OR REPLACE INTO meta (key, value) VALUES (\'epoch\', ?)'),
      putBack: db.prepare<[number, number, number, string, number]>('UPDATE tasks SET leased = 0, rank = ?, attempts = ?, losses = ? WHERE job_id = ? AND idx = ?'),
      deleteTask: db.prepare<[string, number]>('DELETE FROM tasks WHERE job_id = ? AND idx = ?'),
      deleteTaskRange: db.prepare<[string, number, number]>('DELETE FROM tasks WHERE job_id = ? AND idx >= ? AND idx < ?'),
      dropWaiting: db.prepare<[string]>('DELETE FROM tasks WHERE job_id = ? AND leased = 0'),
      markDropped: db.prepare<[string]>('UPDATE jobs SET dropped = 1 WHERE id = ?'),
      imageEvent: db.prepare<[string, number], { body: string }>('SELECT body FROM events WHERE job_id = ? AND image_index = ?'),
      insertEvent: db.prepare<[string, number, number, number | null, string]>('INSERT INTO events (job_id, seq, unix_ms, image_index, body) VALUES (?, ?, ?, ?, ?)'),
      bumpSeq: db.prepare<[number, number, number, number, string]>(
        'UPDATE jobs SET last_seq = ?, succeeded = succeeded + ?, failed = failed + ?, image_bytes = image_bytes + ? WHERE id = ?'),
      fence: db.prepare<[string, string]>('INSERT OR IGNORE INTO fences (job_id, fence) VALUES (?, ?)'),
      events: db.prepare<[string, number, number], EventRow>('SELECT seq, unix_ms, body FROM events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
      deadLetter: db.prepare<[string, number, string]>('INSERT OR IGNORE INTO dead_letters (job_id, idx, reason) VALUES (?, ?, ?)'),
      putBlob: db.prepare<[string, number, string, Buffer]>('INSERT INTO image_blobs (job_id, idx, mime, data) VALUES (?, ?, ?, ?)'),
      blob: db.prepare<[string, number], { mime: string; data: Buffer }>('SELECT mime, data FROM image_blobs WHERE job_id = ? AND idx = ?'),
      // Newest first after a cursor: walks the (created_ms, id) index backwards from where the last page ended.
      listAfter: db.prepare<[number, number, string, number, number], { record: string }>(
        'SELECT record FROM jobs WHERE (created_ms < ? OR (created_ms = ? AND id < ?)) AND created_ms >= ? ORDER BY created_ms DESC, id DESC LIMIT ?'),
      expirable: db.prepare<[number, number], string>(
        `SELECT id FROM jobs WHERE ${IS_FINISHED_SQL} AND ${FINISHED_MS_SQL} < ? ORDER BY ${FINISHED_MS_SQL} LIMIT ?`).pluck(),
      expireJob: [
        'DELETE FROM tasks WHERE job_id = ?', 'DELETE FROM events WHERE job_id = ?', 'DELETE FROM fences WHERE job_id = ?',
        'DELETE FROM dead_letters WHERE job_id = ?', 'DELETE FROM idempotency_keys WHERE job_id = ?', 'DELETE FROM image_blobs WHERE job_id = ?',
        'DELETE FROM jobs WHERE id = ?',
        'INSERT OR IGNORE INTO expired_images (job_id) VALUES (?)',
      ].map((sql) => db.prepare<[string]>(sql)),
      oldestFinished: db.prepare<[number], { id: string; image_bytes: number }>(
        `SELECT id, image_bytes FROM jobs WHERE ${IS_FINISHED_SQL} ORDER BY ${FINISHED_MS_SQL} LIMIT ?`),
      imageBytes: db.prepare<[], number>('SELECT coalesce(sum(image_bytes), 0) FROM jobs').pluck(),
      expiredImages: db.prepare<[], string>('SELECT job_id FROM expired_images').pluck(),
      imagesRemoved: db.prepare<[string]>('DELETE FROM expired_images WHERE job_id = ?'),
    };
    this.nextEpoch = (db.prepare<[], { value: number }>('SELECT value FROM meta WHERE key = \'epoch\'').get()?.value ?? 0) + 1;
    // What a restart finds: leases held by the process that died go back to wait (their epochs are never reused,
    // so a late result from one cannot pass for a new lease); tasks of a job whose creation the crash cut short,
    // or of a cancelled one, go.
    db.exec(`
      UPDATE tasks SET leased = 0 WHERE leased = 1;
      DELETE FROM tasks WHERE job_id NOT IN (SELECT id FROM jobs) OR job_id IN (SELECT id FROM jobs WHERE dropped = 1);
    `);
  }

  // ---- jobs

  claimIdempotencyKey(key: string, jobId: string): Promise<string> {
    return this.batch.run(() => {
      this.q.claimKey.run(key, jobId);
      return this.q.keyHolder.get(key) as unknown as string;
    });
  }

  idempotencyKeyHolder(key: string): Promise<string | undefined> {
    return this.batch.run(() => this.q.keyHolder.get(key) as unknown as string | undefined);
  }

  async createJob(job: JobRecord, tasks: TaskSource): Promise<void> {
    const writer = this.beginJob(job.id);
    await writer.addTasks({ from: 0, to: tasks.total, task: (i) => tasks.task(i) });
    await writer.commit(job);
  }

  beginJob(jobId: string): JobWriter {
    return new EmbeddedJobWriter(jobId, {
      db: this.db, insertTask: this.q.insertTask, deleteRange: this.q.deleteTaskRange,
      commitRecord: async (job) => {
        await this.batch.run(() => { this.q.insertJob.run(job.id, job.createdUnixMs, job.state, JSON.stringify(job)); });
        for (const l of this.jobListeners) l({ ...job });
        for (const l of this.taskListeners) l(job.id);
      },
    });
  }

  getJob(id: string): Promise<JobRecord | undefined> {
    const row = this.q.job.get(id);
    return Promise.resolve(row === undefined ? undefined : JSON.parse(row.record) as JobRecord);
  }

  listJobIds(): Promise<string[]> {
    return Promise.resolve(this.q.jobIds.all() as unknown as string[]);
  }

  async updateJob(id: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined> {
    const next = await this.batch.run(() => {
      const row = this.q.job.get(id);
      if (row === undefined) return undefined;
      const changed = change(JSON.parse(row.record) as JobRecord);
      if (changed !== undefined) this.q.updateJob.run(changed.state, JSON.stringify(changed), id);
      return changed;
    });
    if (next !== undefined) for (const l of this.jobListeners) l({ ...next });
    return next === undefined ? undefined : { ...next };
  }

  onJobChange(listener: (job: JobRecord) => void): void {
    this.jobListeners.push(listener);
  }

  listJobs(filter: JobFilter, after: JobCursor | undefined, limit: number): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    let at = after ?? { createdUnixMs: Number.MAX_SAFE_INTEGER, id: '' };
    // Owner, state and labels are matched on the records read, a batch at a time, until the page is full.
    while (out.length < limit) {
      const rows = this.q.listAfter.all(at.createdUnixMs, at.createdUnixMs, at.id, filter.createdAfterMs, LIST_READ_ROWS);
      for (const r of rows) {
        const job = JSON.parse(r.record) as JobRecord;
        at = job;
        if (matchesFilter(job, filter)) out.push(job);
        if (out.length === limit) break;
      }
      if (rows.length < LIST_READ_ROWS) break;
    }
    return Promise.resolve(out);
  }

  // ---- retention

  expireJobs(finishedBeforeMs: number, limit: number): Promise<string[]> {
    return this.expire(() => this.q.expirable.all(finishedBeforeMs, limit));
  }

  expireToFit(maxImageBytes: number, limit: number): Promise<string[]> {
    return this.expire(() => {
      let total = this.q.imageBytes.get() ?? 0;
      const out: string[] = [];
      for (const row of this.q.oldestFinished.all(limit)) {
        if (total <= maxImageBytes) break;
        out.push(row.id);
        total -= row.image_bytes;
      }
      return out;
    });
  }

  /** Expires the jobs `pick` names, in the write that picks them. */
  private async expire(pick: () => string[]): Promise<string[]> {
    // Rows first, in one transaction that also lists the image folders to remove; then the folders (see the schema).
    const ids = await this.batch.run(() => {
      const found = pick();
      for (const id of found) for (const stmt of this.q.expireJob) stmt.run(id);
      return found;
    });
    await this.removeExpiredImages();
    for (const id of ids) for (const l of this.expiryListeners) l(id);
    return ids;
  }

  /** Removes the image folders of expired jobs, also those a crash left listed. */
  private async removeExpiredImages(): Promise<void> {
    for (const jobId of this.q.expiredImages.all()) {
      await this.images.removeJob(jobId);
      await this.batch.run(() => { this.q.imagesRemoved.run(jobId); });
    }
  }

  onJobExpired(listener: (jobId: string) => void): void {
    this.expiryListeners.push(listener);
  }

  // ---- tasks

  leaseTasks(jobId: string, max: number): Promise<StoredLease[]> {
    if (max <= 0) return Promise.resolve([]);
    return this.batch.run(() => {
      const out: StoredLease[] = [];
      for (const r of this.q.waiting.all(jobId, max)) {
        this.q.lease.run(jobId, r.idx);
        const body = JSON.parse(r.spec) as TaskBody;
        out.push({ task: { jobId, index: r.idx, ...body, attempts: r.attempts, losses: r.losses }, epoch: this.nextEpoch++ });
      }
      // Saved with the leases: after a restart, epochs go on from here.
      if (out.length > 0) this.q.saveEpoch.run(this.nextEpoch - 1);
      return out;
    });
  }

  extendLease(): void {
    // Leases live in the coordinator's memory (its lease table times them out): nothing to extend here.
  }

  completeLease(lease: StoredLease): Promise<void> {
    return this.batch.run(() => { this.q.deleteTask.run(lease.task.jobId, lease.task.index); });
  }

  returnLease(lease: StoredLease, lost: boolean): Promise<void> {
    return this.putBack(lease.task, lease.task.attempts, lease.task.losses + (lost ? 1 : 0));
  }

  retryLease(lease: StoredLease, attempts: number): Promise<void> {
    return this.putBack(lease.task, attempts, lease.task.losses);
  }

  private async putBack(task: TaskSpec, attempts: number, losses: number): Promise<void> {
    const waits = await this.batch.run(() => {
      if (this.q.counters.get(task.jobId)?.dropped === 1) {
        this.q.deleteTask.run(task.jobId, task.index);
        return false;
      }
      // No row: the image was committed meanwhile, and the task is gone for good.
      return this.q.putBack.run(requeueRank(), attempts, losses, task.jobId, task.index).changes > 0;
    });
    if (waits) for (const l of this.taskListeners) l(task.jobId);
  }

  dropTasks(jobId: string): Promise<number> {
    return this.batch.run(() => {
      this.q.markDropped.run(jobId);
      return this.q.dropWaiting.run(jobId).changes;
    });
  }

  onTasksWaiting(listener: (jobId: string) => void): void {
    this.taskListeners.push(listener);
  }

  // ---- events

  /** Appends an event in the current write; the caller has checked the job exists. */
  private append(jobId: string, c: JobCounters, body: EventBody, imageIndex: number | null, succeeded = 0, failed = 0, bytes = 0): FarmEvent {
    const seq = c.last_seq + 1;
    const unixMs = Date.now();
    this.q.insertEvent.run(jobId, seq, unixMs, imageIndex, JSON.stringify(body));
    this.q.bumpSeq.run(seq, succeeded, failed, bytes, jobId);
    return { seq, unixMs, ...body } as FarmEvent;
  }

  private counters(jobId: string): JobCounters {
    const c = this.q.counters.get(jobId);
    if (c === undefined) throw new Error(`embedded store: no job ${jobId}`);
    return c;
  }

  async commitImage(jobId: string, index: number, info: ImageInfo, image?: StoredImage): Promise<FarmEvent | undefined> {
    // A small image is written with its commit, in one transaction; a large one's file first (fsynced), so a
    // committed image's bytes are on disk before its commit exists.
    const inline = image !== undefined && image.data.length <= INLINE_IMAGE_BYTES ? image : undefined;
    if (image !== undefined && inline === undefined) await this.images.put(jobId, index, image);
    const e = await this.batch.run(() => {
      const c = this.counters(jobId);
      if (this.q.imageEvent.get(jobId, index) !== undefined) return undefined;
      // A result that arrives after its job was cancelled (it was stored while the cancel ran) is not an image of
      // the job: the cancel's counts are final, so a commit now would change a finished job's numbers.
      if (this.q.jobState.get(jobId) === JobState.CANCELLED) return undefined;
      const ok = info.finishReason === FinishReason.SUCCESS;
      const event = this.append(jobId, c, { kind: 'image', info }, index, ok ? 1 : 0, ok ? 0 : 1, ok ? info.sizeBytes : 0);
      if (inline !== undefined) this.q.putBlob.run(jobId, index, inline.mimeType, asBuffer(inline.data));
      // The image is final: its task, wherever it is, will never be leased again.
      this.q.deleteTask.run(jobId, index);
      return event;
    });
    if (e !== undefined) this.wake(jobId);
    return e;
  }

  async appendState(jobId: string, event: Extract<NewEvent, { kind: 'state' }>, fence?: string): Promise<FarmEvent | undefined> {
    const e = await this.batch.run(() => {
      const c = this.counters(jobId);
      if (fence !== undefined && this.q.fence.run(jobId, fence).changes === 0) return undefined;
      return this.append(jobId, c, { kind: 'state', state: event.state, counts: { ...event.counts }, reason: event.reason }, null);
    });
    if (e !== undefined) this.wake(jobId);
    return e;
  }

  readEvents(jobId: string, after: number, limit: number): Promise<FarmEvent[]> {
    return Promise.resolve(this.q.events.all(jobId, after, limit).map(toEvent));
  }

  private wake(jobId: string): void {
    const w = this.waiters.get(jobId);
    if (w === undefined) return;
    this.waiters.delete(jobId);
    for (const f of w) f();
  }

  waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || (this.q.counters.get(jobId)?.last_seq ?? 0) > after) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(jobId);
      if (set === undefined) this.waiters.set(jobId, (set = new Set()));
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.waiters.get(jobId)?.delete(done);
        resolve();
      };
      set.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  lastSequence(jobId: string): Promise<number> {
    return Promise.resolve(this.q.counters.get(jobId)?.last_seq ?? 0);
  }

  counts(jobId: string): Promise<{ succeeded: number; failed: number }> {
    const c = this.q.counters.get(jobId);
    return Promise.resolve({ succeeded: c?.succeeded ?? 0, failed: c?.failed ?? 0 });
  }

  imageInfo(jobId: string, index: number): Promise<ImageInfo | undefined> {
    const row = this.q.imageEvent.get(jobId, index);
    if (row === undefined) return Promise.resolve(undefined);
    const body = JSON.parse(row.body) as EventBody;
    return Promise.resolve(body.kind === 'image' ? body.info : undefined);
  }

  deadLetter(task: TaskSpec, reason: string): Promise<void> {
    return this.batch.run(() => { this.q.deadLetter.run(task.jobId, task.index, reason); });
  }

  // ---- images

  getImage(imageId: string): Promise<StoredImage | undefined> {
    const id = parseImageId(imageId);
    if (id === undefined) return Promise.resolve(undefined);
    const row = this.q.blob.get(id.jobId, id.index);
    return row !== undefined ? Promise.resolve({ data: row.data, mimeType: row.mime }) : this.images.get(id.jobId, id.index);
  }

  healthy(): boolean {
    return true;
  }

  /** The open database, for the tenants and keys kept in it beside the jobs (identity-embedded.ts). */
  get database(): Database.Database {
    return this.db;
  }

  onHealthChange(_listener: (healthy: boolean) => void): void {
    // Always healthy: nothing external to lose.
  }

  close(): Promise<void> {
    if (!this.db.open) return Promise.resolve();
    this.batch.flush();
    for (const id of [...this.waiters.keys()]) this.wake(id);
    this.db.close();
    return Promise.resolve();
  }
}

/** The bytes as a Buffer (what SQLite binds as a blob) without copying them. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
