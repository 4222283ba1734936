// How the embedded store writes a job's tasks: in transactions of at most a
// time slice each (a million-task job never holds the event loop for long),
// tasks first and the record last (store.ts, JobWriter). A crash before the
// record leaves task rows without a job, which the next open deletes.
import type Database from 'better-sqlite3';
import type { JobRecord, JobWriter, TaskRange, TaskSpec } from './store.js';

/** How long one transaction of a job's creation may hold the event loop; between two, it serves others. */
const SLICE_MS = 15;
/** Task rows one delete of a discarded job removes: small enough to leave the event loop free between two. */
const DELETE_ROWS = 20_000;

type TaskBody = Pick<TaskSpec, 'entryIndex' | 'prompt' | 'negativePrompt' | 'params'>;

export interface JobWriterDeps {
  readonly db: Database.Database;
  /** (job id, index, rank, spec JSON) */
  readonly insertTask: Database.Statement<[string, number, number, string]>;
  /** (job id, from index, to index): deletes the task rows in the range. */
  readonly deleteRange: Database.Statement<[string, number, number]>;
  /** Writes the record (in a group commit) and tells listeners; resolves once it is in the database. */
  readonly commitRecord: (job: JobRecord) => Promise<void>;
}

const yieldLoop = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export class EmbeddedJobWriter implements JobWriter {
  /** Task rows written so far are those with an index below this (chunks arrive in order, from 0). */
  private end = 0;
  private readonly write;

  constructor(readonly jobId: string, private readonly d: JobWriterDeps) {
    /** Writes tasks from `from` for one time slice; returns where it stopped. */
    this.write = d.db.transaction((tasks: TaskRange, from: number): number => {
      const until = performance.now() + SLICE_MS;
      let i = from;
      while (i < tasks.to && (i % 64 !== 0 || performance.now() < until)) {
        const t = tasks.task(i);
        const body: TaskBody = { entryIndex: t.entryIndex, prompt: t.prompt, negativePrompt: t.negativePrompt, params: t.params };
        // Never-leased tasks rank by index, so a job's images go out in order.
        d.insertTask.run(jobId, i, i, JSON.stringify(body));
        i++;
      }
      return i;
    });
  }

  async addTasks(tasks: TaskRange): Promise<void> {
    for (let from = tasks.from; ;) {
      from = this.write(tasks, from);
      this.end = Math.max(this.end, from);
      if (from >= tasks.to) return;
      await yieldLoop();
    }
  }

  commit(job: JobRecord): Promise<void> {
    return this.d.commitRecord(job);
  }

  async discard(): Promise<void> {
    for (let from = 0; from < this.end; from += DELETE_ROWS) {
      this.d.deleteRange.run(this.jobId, from, Math.min(this.end, from + DELETE_ROWS));
      await yieldLoop();
    }
    this.end = 0;
  }
}
