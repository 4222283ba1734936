// The embedded store: everything in this process's memory, images as files
// under the data directory (<dir>/images/<job_id>/<index>.<ext>). No setup;
// job state is lost on restart (the image files stay).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FinishReason, type ImageInfo } from '@latentfarm/proto';
import type { FarmEvent, JobRecord, NewEvent, Store, StoredImage, StoredLease, TaskSource, TaskSpec } from './store.js';

const EXT: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };
const MIME = Object.fromEntries(Object.entries(EXT).map(([m, e]) => [e, m]));

class EmbeddedJob {
  /** Next never-leased index; tasks handed back wait in `retries` and go first. */
  next = 0;
  readonly retries: TaskSpec[] = [];
  readonly events: FarmEvent[] = [];
  /** Event position of each committed image, +1 (0: not committed). */
  readonly imageEvent: Uint32Array;
  readonly fences = new Set<string>();
  /** Cancelled: its waiting tasks were dropped, and none may come back. */
  dropped = false;
  succeeded = 0;
  failed = 0;
  private waiters: (() => void)[] = [];

  constructor(public record: JobRecord, readonly source: TaskSource) {
    this.imageEvent = new Uint32Array(source.total);
  }

  append(e: NewEvent): FarmEvent {
    const event = { ...e, seq: this.events.length + 1, unixMs: Date.now() } as FarmEvent;
    this.events.push(event);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    return event;
  }

  wait(after: number, signal: AbortSignal): Promise<void> {
    if (this.events.length > after || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

export class EmbeddedStore implements Store {
  readonly kind = 'embedded';
  private readonly keys = new Map<string, string>();
  private readonly jobs = new Map<string, EmbeddedJob>();
  private readonly madeDirs = new Set<string>();
  private readonly jobListeners: ((job: JobRecord) => void)[] = [];
  private readonly taskListeners: ((jobId: string) => void)[] = [];
  private nextEpoch = 1;

  constructor(private readonly dataDir: string) {}

  // ---- jobs

  claimIdempotencyKey(key: string, jobId: string): Promise<string> {
    const held = this.keys.get(key);
    if (held !== undefined) return Promise.resolve(held);
    this.keys.set(key, jobId);
    return Promise.resolve(jobId);
  }

  createJob(job: JobRecord, tasks: TaskSource): Promise<void> {
    this.jobs.set(job.id, new EmbeddedJob({ ...job }, tasks));
    for (const l of this.jobListeners) l({ ...job });
    for (const l of this.taskListeners) l(job.id);
    return Promise.resolve();
  }

  getJob(id: string): Promise<JobRecord | undefined> {
    const j = this.jobs.get(id);
    return Promise.resolve(j === undefined ? undefined : { ...j.record });
  }

  listJobIds(): Promise<string[]> {
    return Promise.resolve([...this.jobs.keys()]);
  }

  updateJob(id: string, change: (job: JobRecord) => JobRecord | undefined): Promise<JobRecord | undefined> {
    const j = this.jobs.get(id);
    if (j === undefined) return Promise.resolve(undefined);
    const next = change({ ...j.record });
    if (next === undefined) return Promise.resolve(undefined);
    j.record = { ...next };
    for (const l of this.jobListeners) l({ ...next });
    return Promise.resolve({ ...next });
  }

  onJobChange(listener: (job: JobRecord) => void): void {
    this.jobListeners.push(listener);
  }

  // ---- tasks

  leaseTasks(jobId: string, max: number): Promise<StoredLease[]> {
    const j = this.jobs.get(jobId);
    const out: StoredLease[] = [];
    if (j === undefined) return Promise.resolve(out);
    while (out.length < max) {
      let task = j.retries.pop();
      if (task === undefined) {
        if (j.next >= j.source.total) break;
        task = j.source.task(j.next++);
      }
      if (j.imageEvent[task.index] !== 0) continue; // committed while it waited
      out.push({ task, epoch: this.nextEpoch++ });
    }
    return Promise.resolve(out);
  }

  extendLease(): void {
    // Leases live in the coordinator's memory here: nothing to extend.
  }

  completeLease(): Promise<void> {
    return Promise.resolve();
  }

  returnLease(lease: StoredLease, lost: boolean): Promise<void> {
    return this.putBack({ ...lease.task, losses: lease.task.losses + (lost ? 1 : 0) });
  }

  retryLease(lease: StoredLease, attempts: number): Promise<void> {
    return this.putBack({ ...lease.task, attempts });
  }

  private putBack(task: TaskSpec): Promise<void> {
    const j = this.jobs.get(task.jobId);
    if (j !== undefined && j.imageEvent[task.index] === 0 && !j.dropped) {
      j.retries.push(task);
      for (const l of this.taskListeners) l(task.jobId);
    }
    return Promise.resolve();
  }

  dropTasks(jobId: string): Promise<number> {
    const j = this.jobs.get(jobId);
    if (j === undefined) return Promise.resolve(0);
    const n = j.source.total - j.next + j.retries.length;
    j.next = j.source.total;
    j.retries.length = 0;
    j.dropped = true;
    return Promise.resolve(n);
  }

  onTasksWaiting(listener: (jobId: string) => void): void {
    this.taskListeners.push(listener);
  }

  // ---- events

  private job(jobId: string): EmbeddedJob {
    const j = this.jobs.get(jobId);
    if (j === undefined) throw new Error(`embedded store: no job ${jobId}`);
    return j;
  }

  commitImage(jobId: string, index: number, info: ImageInfo): Promise<FarmEvent | undefined> {
    const j = this.job(jobId);
    if (j.imageEvent[index] !== 0) return Promise.resolve(undefined);
    const e = j.append({ kind: 'image', info });
    j.imageEvent[index] = e.seq;
    if (info.finishReason === FinishReason.SUCCESS) j.succeeded++;
    else j.failed++;
    return Promise.resolve(e);
  }

  appendState(jobId: string, event: Extract<NewEvent, { kind: 'state' }>, fence?: string): Promise<FarmEvent | undefined> {
    const j = this.job(jobId);
    if (fence !== undefined) {
      if (j.fences.has(fence)) return Promise.resolve(undefined);
      j.fences.add(fence);
    }
    return Promise.resolve(j.append(event));
  }

  readEvents(jobId: string, after: number, limit: number): Promise<FarmEvent[]> {
    return Promise.resolve(this.job(jobId).events.slice(after, after + limit));
  }

  waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void> {
    return this.job(jobId).wait(after, signal);
  }

  lastSequence(jobId: string): Promise<number> {
    return Promise.resolve(this.jobs.get(jobId)?.events.length ?? 0);
  }

  counts(jobId: string): Promise<{ succeeded: number; failed: number }> {
    const j = this.job(jobId);
    return Promise.resolve({ succeeded: j.succeeded, failed: j.failed });
  }

  imageInfo(jobId: string, index: number): Promise<ImageInfo | undefined> {
    const j = this.jobs.get(jobId);
    const seq = j?.imageEvent[index] ?? 0;
    const e = seq > 0 ? j?.events[seq - 1] : undefined;
    return Promise.resolve(e?.kind === 'image' ? e.info : undefined);
  }

  deadLetter(): Promise<void> {
    // The failed image's event carries the reason; nothing else outlives the process here.
    return Promise.resolve();
  }

  // ---- images

  private path(imageId: string, mimeType: string): { dir: string; file: string } {
    const [jobId, index] = imageId.split('/');
    const dir = join(this.dataDir, 'images', jobId ?? '');
    return { dir, file: join(dir, `${index ?? ''}.${EXT[mimeType] ?? 'bin'}`) };
  }

  async putImage(imageId: string, image: StoredImage): Promise<void> {
    const { dir, file } = this.path(imageId, image.mimeType);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    await writeFile(file, image.data);
  }

  async getImage(imageId: string): Promise<StoredImage | undefined> {
    for (const ext of Object.keys(MIME)) {
      const mimeType = MIME[ext] as string;
      try {
        return { data: await readFile(this.path(imageId, mimeType).file), mimeType };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }

  healthy(): boolean {
    return true;
  }

  onHealthChange(_listener: (healthy: boolean) => void): void {
    // Always healthy: nothing external to lose.
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
