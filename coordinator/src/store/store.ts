// Where the coordinator keeps what must outlive a request: job events (the
// sequence WatchJob replays), images, and idempotency keys. One interface; the
// embedded implementation is the default, JetStream comes in its own module.
import type { FinishReason, ImageCounts, JobState } from '@latentfarm/proto';

export type FarmEvent =
  | { seq: number; unixMs: number; kind: 'state'; state: JobState; counts: ImageCounts; reason: string }
  | { seq: number; unixMs: number; kind: 'image'; index: number; reason: FinishReason; error: string; workerId: string; sizeBytes: number; mimeType: string };

export type NewEvent = FarmEvent extends infer E ? (E extends FarmEvent ? Omit<E, 'seq' | 'unixMs'> : never) : never;

export interface StoredImage {
  data: Uint8Array;
  mimeType: string;
}

export interface Store {
  /** Records `key` for `jobId` unless it is taken; returns the job that holds it. */
  claimIdempotencyKey(key: string, jobId: string): Promise<string>;
  /** Appends an event to a job's log and returns it with its sequence number. */
  appendEvent(jobId: string, event: NewEvent): FarmEvent;
  /** Events with seq > after, at most `limit`. */
  readEvents(jobId: string, after: number, limit: number): FarmEvent[];
  /** Resolves when the log of `jobId` grows past `after` (or at once if it has). */
  waitForEvents(jobId: string, after: number, signal: AbortSignal): Promise<void>;
  putImage(imageId: string, image: StoredImage): Promise<void>;
  getImage(imageId: string): Promise<StoredImage | undefined>;
  close(): Promise<void>;
}
