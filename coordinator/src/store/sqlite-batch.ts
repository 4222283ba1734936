// Group commit for the embedded store: the writes asked for in one turn of
// the event loop run in one SQLite transaction, each in its own savepoint, and
// their promises settle once that transaction is committed. Many results
// arriving together cost one commit instead of one each, and a caller never
// sees a write as done before it is in the database.
import type Database from 'better-sqlite3';

interface Op {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  ok?: boolean;
  value?: unknown;
}

export class WriteBatcher {
  private queue: Op[] = [];
  private scheduled = false;
  private readonly all: (ops: Op[]) => void;
  private readonly one: (fn: () => unknown) => unknown;

  constructor(db: Database.Database) {
    // A transaction run inside another becomes a savepoint: one failed write is undone alone.
    this.one = db.transaction((fn: () => unknown) => fn());
    this.all = db.transaction((ops: Op[]) => {
      for (const op of ops) {
        try {
          op.value = this.one(op.fn);
          op.ok = true;
        } catch (err) {
          op.value = err;
          op.ok = false;
        }
      }
    });
  }

  /** Runs `fn` (synchronous SQLite work) in the next group transaction; resolves with its result once committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is queued now (also called by close, so nothing asked for is left unwritten). */
  flush(): void {
    this.scheduled = false;
    const ops = this.queue;
    if (ops.length === 0) return;
    this.queue = [];
    try {
      this.all(ops);
    } catch (err) {
      // The commit itself failed (disk full, I/O error): nothing of this group was written.
      for (const op of ops) op.reject(err);
      return;
    }
    for (const op of ops) {
      if (op.ok === true) op.resolve(op.value);
      else op.reject(op.value);
    }
  }
}
