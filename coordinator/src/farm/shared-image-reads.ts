// Image bytes for watchers. Every watcher of a job wants each of its images,
// at about the same moment, so an image is read from the store once per
// coordinator and handed to all of them: reads under way are shared, and the
// images read last are kept (bounded by bytes) for watchers a little behind.
// The images this coordinator commits are kept as they are committed, so its
// own watchers do not read back what it has just written.
import type { Store, StoredImage } from '../store/store.js';

/** Bytes of recently read images kept for watchers a little behind. */
export const RECENT_IMAGE_BYTES = 32 * 1024 * 1024;

export class SharedImageReads {
  private readonly reading = new Map<string, Promise<StoredImage | undefined>>();
  /** Insertion order is recency: a hit moves the image to the end. */
  private readonly recent = new Map<string, StoredImage>();
  private recentBytes = 0;

  constructor(private readonly store: Pick<Store, 'getImage'>, private readonly maxBytes = RECENT_IMAGE_BYTES) {}

  get(imageId: string): Promise<StoredImage | undefined> {
    const hit = this.recent.get(imageId);
    if (hit !== undefined) {
      this.recent.delete(imageId);
      this.recent.set(imageId, hit);
      return Promise.resolve(hit);
    }
    const under = this.reading.get(imageId);
    if (under !== undefined) return under;
    return this.track(imageId, this.store.getImage(imageId));
  }

  /**
   * This coordinator is committing `image`: a watcher that asks for it (its event may be seen before `committed`
   * settles) gets these bytes if the commit wins, or reads the store if another commit won or it failed.
   */
  committing(imageId: string, image: StoredImage, committed: Promise<boolean>): void {
    const read = this.track(imageId, committed.then(
      (won) => (won ? image : this.store.getImage(imageId)),
      () => this.store.getImage(imageId),
    ));
    // Only watchers that ask see a failed read (the store unreachable): with none, it must not go unhandled.
    read.catch(() => undefined);
  }

  /** `source` is the image's read under way: later asks share it, and what it gives is kept for the next watchers. */
  private track(imageId: string, source: Promise<StoredImage | undefined>): Promise<StoredImage | undefined> {
    const read = source.then((image) => {
      if (image !== undefined) this.remember(imageId, image);
      return image;
    }).finally(() => { if (this.reading.get(imageId) === read) this.reading.delete(imageId); });
    this.reading.set(imageId, read);
    return read;
  }

  private remember(imageId: string, image: StoredImage): void {
    const size = image.data.length;
    // An image too big to share room with others is not kept: it would evict everything for one reader.
    if (size > this.maxBytes / 4) return;
    this.recent.set(imageId, image);
    this.recentBytes += size;
    for (const [id, old] of this.recent) {
      if (this.recentBytes <= this.maxBytes) break;
      this.recent.delete(id);
      this.recentBytes -= old.data.length;
    }
  }
}
