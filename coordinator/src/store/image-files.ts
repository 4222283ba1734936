// The embedded store's larger images: one file each, <data-dir>/images/<job_id>/<index>.<ext>. The store names
// them by job and index (its caller has read the image id: image-id.ts).
// A file's data is fsynced before put resolves, so the commit that
// follows (and names the image) never refers to bytes still only in memory.
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredImage } from './store.js';

const EXT: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };
const MIME = Object.fromEntries(Object.entries(EXT).map(([m, e]) => [e, m]));

export class ImageFiles {
  private readonly madeDirs = new Set<string>();

  constructor(private readonly dataDir: string) {}

  private path(jobId: string, index: number, mimeType: string): { dir: string; file: string } {
    const dir = join(this.dataDir, 'images', jobId);
    return { dir, file: join(dir, `${index}.${EXT[mimeType] ?? 'bin'}`) };
  }

  async put(jobId: string, index: number, image: StoredImage): Promise<void> {
    const { dir, file } = this.path(jobId, index, image.mimeType);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    // Truncating on open: a retry after a write cut short by a crash replaces the partial file.
    const fh = await open(file, 'w');
    try {
      await fh.writeFile(image.data);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  /** Removes every image of a job (its folder); a folder already gone is fine, so a retry after a crash is too. */
  async removeJob(jobId: string): Promise<void> {
    const dir = join(this.dataDir, 'images', jobId);
    this.madeDirs.delete(dir);
    await rm(dir, { recursive: true, force: true });
  }

  async get(jobId: string, index: number): Promise<StoredImage | undefined> {
    for (const ext of Object.keys(MIME)) {
      const mimeType = MIME[ext] as string;
      try {
        return { data: await readFile(this.path(jobId, index, mimeType).file), mimeType };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return undefined;
  }
}
