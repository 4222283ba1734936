// Expiry of finished jobs in the JetStream store. Stream and bucket limits
// (max age, TTLs) would expire by age alone, and every stream and bucket here
// holds running jobs beside finished ones: a job running longer than the
// retention would lose its events, its record or its images. So a sweeper
// purges one finished job at a time, by subject, in an order that a crash or a
// second coordinator doing the same at the same time cannot break: images,
// dead letters, tasks, idempotency key and events first, the job record last.
// Until the record goes the job still lists as expirable, and every step is a
// purge that finds nothing the second time.
import { createHash } from 'node:crypto';
import { FinishReason } from '@latentfarm/proto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import { scopedIdempotencyKey } from './job-query.js';
import type { Names } from './jetstream-names.js';
import type { FarmEvent, JobRecord } from './store.js';

/** Events read at once while looking for a job's images; images purged at once. */
const EVENT_PAGE = 1_000;
const PURGE_WINDOW = 64;

export interface ExpiryDeps {
  readonly jsm: JetStreamManager;
  readonly jobsKv: KV;
  readonly keysKv: KV;
  readonly images: ObjectStore;
  readonly n: Names;
  readonly readEvents: (jobId: string, after: number, limit: number) => Promise<FarmEvent[]>;
}

export class JetStreamExpiry {
  /** Jobs whose record was purged with a marker that other coordinators' watchers see; the marker goes next sweep. */
  private markers: string[] = [];

  constructor(private readonly d: ExpiryDeps) {}

  /** Purges every trace of a finished job, the record last. */
  async expire(job: JobRecord): Promise<void> {
    const { jsm, n } = this.d;
    await this.purgeImages(job.id);
    await jsm.streams.purge(n.deadStream, { filter: n.deadSubjects(job.id) });
    await jsm.streams.purge(n.tasksStream, { filter: n.task(job.id) });
    await jsm.consumers.delete(n.tasksStream, n.taskConsumer(job.id)).catch(() => undefined);
    await this.purgeKey(job);
    await jsm.streams.purge(n.eventsStream, { filter: n.events(job.id) });
    // A purge (not a stream purge) leaves a marker the job watchers of other coordinators see, so they forget it too.
    await this.d.jobsKv.purge(job.id);
    this.markers.push(job.id);
  }

  /** Removes the markers of jobs expired by an earlier sweep: by now every watcher has seen them. */
  async clearMarkers(): Promise<void> {
    const ids = this.markers;
    this.markers = [];
    for (const id of ids) await this.d.jsm.streams.purge(`KV_${this.d.n.jobsBucket}`, { filter: this.d.n.jobSubject(id) });
  }

  private async purgeImages(jobId: string): Promise<void> {
    for (let after = 0; ;) {
      const events = await this.d.readEvents(jobId, after, EVENT_PAGE);
      if (events.length === 0) return;
      after = events.at(-1)?.seq ?? after;
      const names = events.flatMap((e) => (e.kind === 'image' && e.info.finishReason === FinishReason.SUCCESS ? [e.info.id] : []));
      for (let i = 0; i < names.length; i += PURGE_WINDOW) await Promise.all(names.slice(i, i + PURGE_WINDOW).map((name) => this.purgeImage(name)));
    }
  }

  /** The image's chunks, then its meta (the object store's own delete would leave a "deleted" meta behind). */
  private async purgeImage(name: string): Promise<void> {
    const { jsm, images, n } = this.d;
    const info = await images.info(name);
    if (info === null) return;
    await jsm.streams.purge(n.imagesStream, { filter: n.imageChunks(info.nuid) });
    await jsm.streams.purge(n.imagesStream, { filter: n.imageMeta(name) });
  }

  /** The job's idempotency key, if it still names this job (a key taken over by a later job stays). */
  private async purgeKey(job: JobRecord): Promise<void> {
    if (job.spec.idempotencyKey === '') return;
    const k = createHash('sha256').update(scopedIdempotencyKey(job.owner, job.spec.idempotencyKey)).digest('hex');
    const e = await this.d.keysKv.get(k);
    if (e === null || e.operation !== 'PUT' || e.json<{ jobId: string }>().jobId !== job.id) return;
    await this.d.jsm.streams.purge(`KV_${this.d.n.keysBucket}`, { filter: this.d.n.keySubject(k) });
  }
}
