// The embedded store's database: one SQLite file, <data-dir>/latentfarm.db,
// opened with the settings the store's durability rests on (see the
// coordinator README, "What the embedded store fsyncs, and when").
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '@latentfarm/common';
import { FINISHED_STATES } from './job-query.js';

export const DB_FILE = 'latentfarm.db';
/** 2: small images inside the database (image_blobs), where a coordinator of schema 1 would not look. */
const SCHEMA_VERSION = 2;

/** SQL of "the job is finished" and "when it finished", the same text in the index and in the query that uses it. */
export const IS_FINISHED_SQL = `state IN (${FINISHED_STATES.join(', ')})`;
export const FINISHED_MS_SQL = 'coalesce(nullif(json_extract(record, \'$.finishedUnixMs\'), 0), created_ms)';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
-- rowid keeps creation order (listJobIds); record is the whole JobRecord as JSON, so fields other parts add
-- round-trip without a schema change; the other columns are what queries and hot paths need.
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY, created_ms INTEGER NOT NULL, state INTEGER NOT NULL, record TEXT NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0, succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
  dropped INTEGER NOT NULL DEFAULT 0, image_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_ms);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE TABLE IF NOT EXISTS idempotency_keys (key TEXT PRIMARY KEY, job_id TEXT NOT NULL) WITHOUT ROWID;
-- One row per task not yet committed. leased: 0 waiting, 1 leased. rank orders the waiting: handed-back tasks
-- (negative ranks) before never-leased ones (their index). spec: the TaskSpec's render fields as JSON.
CREATE TABLE IF NOT EXISTS tasks (
  job_id TEXT NOT NULL, idx INTEGER NOT NULL, leased INTEGER NOT NULL DEFAULT 0, rank INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, losses INTEGER NOT NULL DEFAULT 0, spec TEXT NOT NULL,
  PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_waiting ON tasks (job_id, leased, rank);
-- Every job's event log; image events carry their image index, unique per job (an image commits once).
CREATE TABLE IF NOT EXISTS events (
  job_id TEXT NOT NULL, seq INTEGER NOT NULL, unix_ms INTEGER NOT NULL, image_index INTEGER, body TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS events_image ON events (job_id, image_index) WHERE image_index IS NOT NULL;
CREATE TABLE IF NOT EXISTS fences (job_id TEXT NOT NULL, fence TEXT NOT NULL, PRIMARY KEY (job_id, fence)) WITHOUT ROWID;
-- Listing (newest first, resumed after a cursor) and expiry (oldest finished first); a finished record without a
-- finish time counts from its creation. Indexes added to an existing file by the next open; no schema change.
CREATE INDEX IF NOT EXISTS jobs_listing ON jobs (created_ms, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (${FINISHED_MS_SQL}) WHERE ${IS_FINISHED_SQL};
CREATE INDEX IF NOT EXISTS idempotency_keys_job ON idempotency_keys (job_id);
-- Image folders of expired jobs, listed in the transaction that deletes the jobs and removed after it: a crash in
-- between leaves the list, and the next sweep removes them then (no orphaned folder, no record naming a lost image).
CREATE TABLE IF NOT EXISTS expired_images (job_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letters (job_id TEXT NOT NULL, idx INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (job_id, idx)) WITHOUT ROWID;
-- Images up to INLINE_IMAGE_BYTES (embedded.ts), written in the transaction of the commit that names them; larger
-- ones are files (image-files.ts). A rowid table: its rows are too big for a WITHOUT ROWID one.
CREATE TABLE IF NOT EXISTS image_blobs (job_id TEXT NOT NULL, idx INTEGER NOT NULL, mime TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (job_id, idx));
`;

export interface OpenedDb {
  db: Database.Database;
  /** Image folders found beside a database this open created: left by a version that kept no job records. */
  orphanedImageDirs: number;
}

/**
 * Opens (creating if needed) the database in `dataDir`, and holds it for this process alone: a second
 * coordinator on the same folder fails its start with one line instead of sharing the queue.
 */
export function openDatabase(dataDir: string): OpenedDb {
  const file = join(dataDir, DB_FILE);
  const fresh = !existsSync(file);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    // No busy wait: the only other user of this file would be a second coordinator, refused at once.
    db = new Database(file, { timeout: 0 });
    // Exclusive locking: the lock is taken by the first statement and held until close (the OS drops it if the
    // process dies), and WAL then needs no shared-memory file.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit is written to the WAL before it returns (survives the process being killed);
    // the WAL is fsynced at checkpoints, not per commit (see the README for what power loss can cost).
    db.pragma('synchronous = NORMAL');
    db.exec(SCHEMA);
    addImageBytes(db);
    const version = (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema') as { value: number } | undefined)?.value;
    if (version !== undefined && version > SCHEMA_VERSION) {
      throw new ConfigError(`--data-dir: "${file}" was written by a newer latentfarm (schema ${version}, this one reads ${SCHEMA_VERSION})`);
    }
    // An older file is this schema once the tables above are in it (its images stay files, which are still read).
    if (version !== SCHEMA_VERSION) db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema', SCHEMA_VERSION);
    // A write now takes the exclusive lock at once, so a second coordinator fails here, at its start.
    db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('opened_ms', Date.now());
    return { db, orphanedImageDirs: fresh ? countDirs(join(dataDir, 'images')) : 0 };
  } catch (err) {
    db?.close();
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`--data-dir: cannot open the job database "${file}" (${explain(err)})`, { cause: err });
  }
}

/**
 * Bytes of committed images per job (for --retain-bytes), added to a database from before it was kept and counted
 * from the image events there: a column added in place, no schema change.
 */
function addImageBytes(db: Database.Database): void {
  const columns = db.prepare<[], string>('SELECT name FROM pragma_table_info(\'jobs\')').pluck().all();
  if (columns.includes('image_bytes')) return;
  db.exec(`
    ALTER TABLE jobs ADD COLUMN image_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE jobs SET image_bytes = (SELECT coalesce(sum(json_extract(body, '$.info.sizeBytes')), 0) FROM events
      WHERE events.job_id = jobs.id AND image_index IS NOT NULL);
  `);
}

function explain(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_BUSY') return 'another coordinator is using this data dir';
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return 'the file is not a latentfarm database';
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message.split('\n')[0] ?? 'error' : 'error';
}

function countDirs(dir: string): number {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
  } catch {
    return 0;
  }
}
