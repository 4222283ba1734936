// The embedded store: events and keys in memory, images as files under the
// data directory (<dir>/images/<job_id>/<index>.<ext>). No setup; lost on restart
// except the image files.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FarmEvent, NewEvent, Store, StoredImage } from './store.js';

const EXT: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };
const MIME = Object.fromEntries(Object.entries(EXT).map(([m, e]) => [e, m]));

class EventLog {
  readonly events: FarmEvent[] = [];
  private waiters: (() => void)[] = [];

  append(e: FarmEvent): void {
    this.events.push(e);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
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
  private readonly keys = new Map<string, string>();
  private readonly logs = new Map<string, EventLog>();
  private readonly madeDirs = new Set<string>();

  constructor(private readonly dataDir: string) {}

  claimIdempotencyKey(key: string, jobId: string): Promise<string> {
    const held = this.keys.get(key);
    if (held !== undefined) return Promise.resolve(held);
    this.keys.set(key, jobId);
    return Promise.resolve(jobId);
  }

  private log(jobId: string): EventLog {
    let log = this.logs.get(jobId);
    if (log === undefined) {
      log = new EventLog();
      this.logs.set(jobId, log);
    }
    return log;
  }

  appendEvent(jobId: string, event: NewEvent): FarmEvent {
    const log = this.log(jobId);
    // Sequence numbers are positions in the log, starting at 1.
    const e = { ...event, seq: log.events.length + 1, unixMs: Date.now() } as FarmEvent;
    log.append(e);
    return e;
  }

  readEvents(jobId: string, after: number, limit: number): FarmEvent[] {
    return this.log(jobId).events.slice(after, after + limit);
  }

  waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void> {
    return this.log(jobId).wait(after, signal);
  }

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

  close(): Promise<void> {
    return Promise.resolve();
  }
}
