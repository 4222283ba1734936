// Event reads for watchers. The live watchers of a job wait at its newest
// event and are woken together by the next one, so they ask for the same
// events at the same moment: one read from the store answers all of them.
import type { FarmEvent, Store } from '../store/store.js';

export class SharedEventReads {
  private readonly reading = new Map<string, Promise<FarmEvent[]>>();

  constructor(private readonly store: Pick<Store, 'readEvents'>) {}

  /** Events with seq > after, at most `limit`, as Store.readEvents; a read under way for the same ones is shared. */
  read(jobId: string, after: number, limit: number): Promise<FarmEvent[]> {
    const key = `${jobId}/${after}/${limit}`;
    const under = this.reading.get(key);
    if (under !== undefined) return under;
    const read = this.store.readEvents(jobId, after, limit).finally(() => this.reading.delete(key));
    this.reading.set(key, read);
    return read;
  }
}
