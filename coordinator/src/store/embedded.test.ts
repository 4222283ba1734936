// The Store contract against the embedded store, plus what only it promises:
// everything acknowledged survives the store being closed or its process
// killed, and a reopened store resumes (leased tasks wait again).
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@latentfarm/common';
import { JobState } from '@latentfarm/proto';
import { tempDir } from '@latentfarm/testkit';
import { EmbeddedStore, INLINE_IMAGE_BYTES } from './embedded.js';
import { DB_FILE } from './sqlite-db.js';
import { describeHistoryContract } from './store-history.contract.js';
import { crashTestImage, describeStoreContract, info, leaseAll, newJob, newJobId } from './store.contract.js';

describeStoreContract('embedded', async () => {
  const dir = await tempDir();
  const store = new EmbeddedStore(dir.path);
  const count = store.database.prepare<[string], number>('SELECT count(*) FROM tasks WHERE job_id = ?').pluck();
  return { store, storedTasks: (id) => Promise.resolve(count.get(id) ?? 0), close: async () => { await store.close(); await dir.remove(); } };
});

describeHistoryContract('embedded', async () => {
  const dir = await tempDir();
  const store = new EmbeddedStore(dir.path);
  return { store, close: async () => { await store.close(); await dir.remove(); } };
});

describe('embedded store: durable in its data dir', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const open: EmbeddedStore[] = [];
  const openStore = (): EmbeddedStore => {
    const s = new EmbeddedStore(dir.path);
    open.push(s);
    return s;
  };
  beforeEach(async () => { dir = await tempDir(); });
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    await dir.remove();
  });

  it('keeps jobs, events, keys, counts and images across close and reopen; leased tasks wait again with new epochs', async () => {
    const a = openStore();
    const id = await newJob(a, 6);
    const cancelled = await newJob(a, 4);
    await a.claimIdempotencyKey('k1', id);
    await a.appendState(id, { kind: 'state', state: JobState.QUEUED, counts: { total: 6, succeeded: 0, failed: 0, cancelled: 0, running: 0 }, reason: '' }, 'queued');
    await a.updateJob(id, (j) => ({ ...j, state: JobState.RUNNING, reason: 'kept', owner: 'tenant-a' } as typeof j));
    const held = await leaseAll(a, id, 6);
    await a.commitImage(id, 0, info(id, 0), { data: new Uint8Array([9, 8, 7]), mimeType: 'image/png' });
    await a.completeLease(held.find((l) => l.task.index === 0)!);
    await a.commitImage(id, 1, info(id, 1, false));
    await a.retryLease(held.find((l) => l.task.index === 2)!, 2);
    // Held by the store's process when it goes: 3, 4, 5 (and 2, handed back with its attempts).
    await leaseAll(a, cancelled, 1);
    await a.dropTasks(cancelled);
    const events = await a.readEvents(id, 0, 100);
    const lastEpoch = Math.max(...held.map((l) => l.epoch));
    await a.close();

    const b = openStore();
    expect(await b.getJob(id)).toMatchObject({ id, state: JobState.RUNNING, reason: 'kept', owner: 'tenant-a' });
    expect(await b.listJobIds()).toEqual([id, cancelled]);
    expect(await b.claimIdempotencyKey('k1', newJobId())).toBe(id);
    expect(await b.readEvents(id, 0, 100)).toEqual(events);
    expect(await b.lastSequence(id)).toBe(events.at(-1)!.seq);
    expect(await b.counts(id)).toEqual({ succeeded: 1, failed: 1 });
    expect(await b.imageInfo(id, 0)).toEqual(info(id, 0));
    expect(Buffer.from((await b.getImage(`${id}/0`))!.data)).toEqual(Buffer.from([9, 8, 7]));
    // Committed images never come back; every other task does, once, with its history and an epoch never used.
    const again = await leaseAll(b, id, 4);
    expect(again.map((l) => l.task.index).sort()).toEqual([2, 3, 4, 5]);
    expect(again.find((l) => l.task.index === 2)!.task).toMatchObject({ attempts: 2, prompt: 'prompt 2', params: { seed: 9 } });
    for (const l of again) expect(l.epoch).toBeGreaterThan(lastEpoch);
    expect(await b.leaseTasks(id, 10)).toEqual([]);
    // A commit made before the restart still wins.
    expect(await b.commitImage(id, 0, info(id, 0))).toBeUndefined();
    const next = await b.commitImage(id, 3, info(id, 3));
    expect(next?.seq).toBe(events.at(-1)!.seq + 1);
    // The cancelled job's tasks stay dropped, the one it held included.
    expect(await b.leaseTasks(cancelled, 10)).toEqual([]);
  });

  it('keeps every acknowledged commit when its process is SIGKILLed mid-write, and resumes the rest', async () => {
    const jobId = newJobId();
    const total = 400;
    const child = spawn(process.execPath, ['--conditions=@latentfarm/source', '--import', 'tsx',
      fileURLToPath(new URL('./embedded-writer.fixture.ts', import.meta.url)), dir.path, jobId, String(total)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const acknowledged = new Set<number>();
    let killed = false;
    for await (const line of createInterface({ input: child.stdout })) {
      const m = /^committed (\d+)$/.exec(line);
      if (m !== null) acknowledged.add(Number(m[1]));
      if (acknowledged.size >= 150 && !killed) {
        killed = true;
        child.kill('SIGKILL');
      }
    }
    await exited;
    expect(killed, `the writer ended before the kill:\n${stderr}`).toBe(true);

    const s = openStore();
    const events = await s.readEvents(jobId, 0, 10_000);
    const committed = new Set(events.map((e) => (e.kind === 'image' ? e.info.index : -1)));
    for (const i of acknowledged) expect(committed.has(i)).toBe(true);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, k) => k + 1));
    expect((await s.counts(jobId)).succeeded).toBe(committed.size);
    // Every committed image is there, whole: those in the database and those in files.
    for (const i of committed) expect(Buffer.from((await s.getImage(`${jobId}/${i}`))!.data)).toEqual(Buffer.from(crashTestImage(i, INLINE_IMAGE_BYTES + 1)));
    expect(await s.claimIdempotencyKey(`key-${jobId}`, newJobId())).toBe(jobId);
    // The rest, including what was leased when the process died, waits again: each exactly once.
    const rest = await leaseAll(s, jobId, total - committed.size);
    expect(rest.map((l) => l.task.index).sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i).filter((i) => !committed.has(i)));
    expect(await s.leaseTasks(jobId, 10)).toEqual([]);
  });

  it('refuses a second store on a data dir in use, with one line', () => {
    openStore();
    expect(() => new EmbeddedStore(dir.path)).toThrow(ConfigError);
    expect(() => new EmbeddedStore(dir.path)).toThrow(/another coordinator is using this data dir/);
  });

  it('refuses a data dir whose database file is not one, with one line', async () => {
    await writeFile(join(dir.path, DB_FILE), 'x'.repeat(4096));
    expect(() => new EmbeddedStore(dir.path)).toThrow(/not a latentfarm database/);
  });

  it('removes the image folder of a job expired just before a crash at the next sweep after a restart', async () => {
    const s = openStore();
    const id = await newJob(s, 1);
    // Large enough to be a file (a small image goes with the job's rows, in their transaction).
    await s.commitImage(id, 0, info(id, 0), { data: new Uint8Array(INLINE_IMAGE_BYTES + 1), mimeType: 'image/png' });
    // The state a crash between the expiry's commit and the folder's removal leaves: rows gone, folder listed.
    s.database.prepare('DELETE FROM jobs WHERE id = ?').run(id);
    s.database.prepare('INSERT INTO expired_images (job_id) VALUES (?)').run(id);
    await s.close();
    const again = openStore();
    expect(await again.getImage(`${id}/0`)).toMatchObject({ mimeType: 'image/png' });
    expect(await again.expireJobs(0, 10)).toEqual([]);
    expect(await again.getImage(`${id}/0`)).toBeUndefined();
    expect(again.database.prepare('SELECT count(*) FROM expired_images').pluck().get()).toBe(0);
  });

  it('keeps an image up to INLINE_IMAGE_BYTES in the database with its commit and a larger one as a file; both go with their job', async () => {
    const s = openStore();
    const id = await newJob(s, 3);
    const folder = join(dir.path, 'images', id);
    const small = new Uint8Array(INLINE_IMAGE_BYTES).fill(5);
    const large = new Uint8Array(INLINE_IMAGE_BYTES + 1).fill(6);
    await s.commitImage(id, 0, info(id, 0), { data: small, mimeType: 'image/png' });
    expect(existsSync(folder)).toBe(false);
    await s.commitImage(id, 1, info(id, 1), { data: large, mimeType: 'image/webp' });
    expect(readdirSync(folder)).toEqual(['1.webp']);
    // A losing commit stores nothing: the first image stays.
    expect(await s.commitImage(id, 0, info(id, 0), { data: new Uint8Array([1]), mimeType: 'image/png' })).toBeUndefined();
    expect(await s.getImage(`${id}/0`)).toEqual({ data: Buffer.from(small), mimeType: 'image/png' });
    expect(await s.getImage(`${id}/1`)).toEqual({ data: Buffer.from(large), mimeType: 'image/webp' });
    expect(await s.getImage(`${id}/2`)).toBeUndefined();
    await s.updateJob(id, (j) => ({ ...j, state: JobState.SUCCEEDED, finishedUnixMs: 1 }));
    expect(await s.expireJobs(Date.now(), 10)).toEqual([id]);
    expect(await s.getImage(`${id}/0`)).toBeUndefined();
    expect(await s.getImage(`${id}/1`)).toBeUndefined();
    expect(s.database.prepare('SELECT count(*) FROM image_blobs').pluck().get()).toBe(0);
    expect(existsSync(folder)).toBe(false);
  });

  it('opens a database of schema 1 as schema 2 and still serves its image files; refuses a newer schema with one line', async () => {
    const s = openStore();
    const id = await newJob(s, 2);
    await s.commitImage(id, 0, info(id, 0), { data: new Uint8Array(INLINE_IMAGE_BYTES + 1).fill(7), mimeType: 'image/png' });
    // What schema 1 wrote: no image_blobs table, every image a file.
    s.database.exec('DROP TABLE image_blobs');
    s.database.prepare('UPDATE meta SET value = 1 WHERE key = ?').run('schema');
    await s.close();
    const again = openStore();
    expect(again.database.prepare('SELECT value FROM meta WHERE key = ?').pluck().get('schema')).toBe(2);
    expect((await again.getImage(`${id}/0`))?.data).toEqual(Buffer.from(new Uint8Array(INLINE_IMAGE_BYTES + 1).fill(7)));
    await again.commitImage(id, 1, info(id, 1), { data: new Uint8Array([4, 2]), mimeType: 'image/png' });
    expect((await again.getImage(`${id}/1`))?.data).toEqual(Buffer.from([4, 2]));
    again.database.prepare('UPDATE meta SET value = 3 WHERE key = ?').run('schema');
    await again.close();
    expect(() => new EmbeddedStore(dir.path)).toThrow(/was written by a newer latentfarm \(schema 3, this one reads 2\)$/);
  });

  it('counts the image bytes of jobs in a database from before they were kept, for --retain-bytes', async () => {
    const s = openStore();
    const id = await newJob(s, 2);
    await s.updateJob(id, (j) => ({ ...j, state: JobState.SUCCEEDED, finishedUnixMs: Date.now() }));
    await s.commitImage(id, 0, { ...info(id, 0), sizeBytes: 700 });
    await s.commitImage(id, 1, { ...info(id, 1), sizeBytes: 300 });
    s.database.exec('ALTER TABLE jobs DROP COLUMN image_bytes');
    await s.close();
    const again = openStore();
    expect(await again.expireToFit(1_000, 10)).toEqual([]);
    expect(await again.expireToFit(999, 10)).toEqual([id]);
  });

  it('opens a data dir from a version that kept only images: counts their folders, serves no job from them', async () => {
    const old = newJobId();
    await mkdir(join(dir.path, 'images', old), { recursive: true });
    await writeFile(join(dir.path, 'images', old, '0.png'), new Uint8Array([1]));
    const s = openStore();
    expect(s.orphanedImageDirs).toBe(1);
    expect(await s.getJob(old)).toBeUndefined();
    expect(await s.listJobIds()).toEqual([]);
    await s.close();
    // Counted once, when the database is made: a later open is an ordinary restart.
    expect(openStore().orphanedImageDirs).toBe(0);
  });
});
