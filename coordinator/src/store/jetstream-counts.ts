// How many of a job's images are committed, and how many of those failed, read
// from the streams themselves with plain stream requests, never through a
// consumer. Every one of these requests is answered by a stream's leader; a
// consumer's info is answered by the consumer's own leader, and on a cluster
// with a node just SIGKILLed nats-server 2.9 can leave that one unanswered for
// longer than a client waits (production-topology.e2e.test.ts saw a job stay
// RUNNING with every image delivered). See coordinator/README.md ("Counts").
import { FinishReason } from '@latentfarm/proto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Names } from './jetstream-names.js';
import { TASK_BLOCK } from './jetstream-task-blocks.js';
import { nextBySubject } from './nats-pull.js';
import type { NatsRequests } from './nats-requests.js';

export interface Counts { succeeded: number; failed: number }

/**
 * How long an exact count of a running job is reused, with this coordinator's own commits since added to it; at
 * least RESCAN_COST times what the last full count took, so that a big job (about 1.7 µs of server time per image
 * committed, 2 s at a million) is not rescanned for most of the server's time.
 */
const RESCAN_MS = 5_000;
const RESCAN_COST = 25;
/**
 * A job with at most this many tasks left (its task messages times TASK_BLOCK) is counted exactly every time: near
 * its end the estimate would miss the last commits of other coordinators (and acks on their way), and the job
 * would end only at the next rescan. An exact count costs the server a pass over the event stream's subjects, so
 * it is kept to the tail.
 */
const TAIL = 256;
/**
 * Near the end an exact count is brought up to date from the last one by reading the job's image events stored
 * since, one request each, when there are at most this many of them: that costs the server a few message reads
 * instead of a pass over every image subject of the job, which for each commit round of a big job's tail
 * (hundreds of them) would keep it busy for seconds each.
 */
const CATCH_UP_EVENTS = 512;
/** Image events read at once when dead-letter markers are checked against them. */
const CHECK_CONCURRENCY = 32;
/** Past the end of any subject list: the server then sends the number of matching subjects and none of them. */
const PAST_THE_END = 1_000_000_000;
/** Jobs whose counting state is kept. */
const MAX_JOBS = 10_000;

interface Scan {
  /** Distinct image subjects of the job: each is written at most once (the commit fence), so this is exact. */
  committed: number;
  /** Every commit stored at or before this stream sequence is in `committed`. */
  lastSeq: number;
  atMs: number;
}

interface JobTally {
  scan: Scan | undefined;
  /** How long the last full count took, ms. */
  scanMs: number;
  /** Own commits since the scan began. */
  own: number[];
  /** Per dead-letter marker whose image event was read: whether the image failed. A committed image never changes. */
  outcomes: Map<number, boolean>;
}

interface StreamInfoAnswer {
  total?: number;
  state?: { last_seq: number; subjects?: Record<string, number> };
}

export class JetStreamCounter {
  private readonly jobs = new Map<string, JobTally>();

  constructor(
    private readonly requests: NatsRequests,
    private readonly jsm: JetStreamManager,
    private readonly n: Names,
    /** RESCAN_MS; a test that counts its full counts sets it past its own length, so a slow machine cannot add one. */
    private readonly rescanMs = RESCAN_MS,
  ) {}

  /**
   * The job's counts. Exact whenever they reach `total` (the caller may end the job on them), and whenever at
   * most TAIL of its tasks may be left. Before that they may lag other coordinators' commits by up to
   * RESCAN_MS: a running job is counted from its last exact count, this coordinator's commits since, and the
   * number of its tasks surely acked, whichever is highest. A task message is acked only once every task in it is
   * committed or has moved on to a newer message, and holds TASK_BLOCK tasks at most, so the tasks not yet
   * committed are at most TASK_BLOCK times the job's messages left.
   */
  async count(jobId: string, total: number): Promise<Counts> {
    const t = this.tally(jobId);
    const scan = t.scan;
    if (scan === undefined || Date.now() - scan.atMs >= Math.max(this.rescanMs, RESCAN_COST * t.scanMs)) return this.exact(jobId, t);
    let committed = scan.committed + t.own.length;
    // An estimate that reaches the total is checked by an exact count: only that may end the job.
    if (committed < total) {
      const left = (await tasksInQueue(this.requests, this.n, jobId)) * TASK_BLOCK;
      committed = Math.max(committed, total - left);
      if (left > TAIL) return this.split(t, committed);
    }
    // Commits since the last count, as far as this coordinator knows (others' show as acked tasks, or not yet).
    const caughtUp = committed - scan.committed <= CATCH_UP_EVENTS / 2 ? await this.catchUp(jobId, t, scan) : undefined;
    return caughtUp !== undefined ? this.split(t, caughtUp) : this.exact(jobId, t);
  }

  /** This coordinator stored the commit of image `index` at stream sequence `seq`. */
  committed(jobId: string, index: number, seq: number, failed: boolean): void {
    const t = this.jobs.get(jobId);
    if (t === undefined) return; // never counted here: the first count is an exact one, which includes this commit
    // A commit at or before the scan's sequence is in the scan; one after it may be too, if it was stored while
    // the scan ran: such an estimate can be one high until the next scan, but never reaches the total (see count).
    if (seq > (t.scan?.lastSeq ?? 0)) t.own.push(seq);
    if (failed) t.outcomes.set(index, true);
  }

  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  private tally(jobId: string): JobTally {
    let t = this.jobs.get(jobId);
    if (t === undefined) {
      t = { scan: undefined, scanMs: 0, own: [], outcomes: new Map() };
      this.jobs.set(jobId, t);
      if (this.jobs.size > MAX_JOBS) this.jobs.delete(this.jobs.keys().next().value as string);
    }
    return t;
  }

  private split(t: JobTally, committed: number): Counts {
    let failed = 0;
    for (const f of t.outcomes.values()) if (f) failed++;
    return { succeeded: Math.max(0, committed - failed), failed };
  }

  /**
   * Committed images from the event stream, then failures: every failed image has a dead-letter marker, written
   * before its event (see commitImage), so each marker listed after the scan whose event says "failed" is one.
   * A marker whose event says "succeeded" lost its race to another commit; one with no event yet is not counted.
   */
  private async exact(jobId: string, t: JobTally): Promise<Counts> {
    const started = Date.now();
    const scan = await this.scanImages(jobId);
    t.scanMs = Date.now() - started;
    const markers = await this.markers(jobId);
    const unread = markers.filter((i) => !t.outcomes.has(i));
    for (let i = 0; i < unread.length; i += CHECK_CONCURRENCY) {
      await Promise.all(unread.slice(i, i + CHECK_CONCURRENCY).map(async (index) => {
        const m = await this.jsm.streams.getMessage(this.n.eventsStream, { last_by_subj: this.n.image(jobId, index) });
        if (m !== null) t.outcomes.set(index, imageFailed(m.data));
      }));
    }
    t.scan = { committed: scan.committed, lastSeq: scan.lastSeq, atMs: started };
    t.own = t.own.filter((seq) => seq > scan.lastSeq);
    return this.split(t, scan.committed);
  }

  /**
   * Reads the job's image events stored after `scan`, in order, and adds them to it: every commit at or before the
   * last one read is then counted, and the failed ones among them are known from the events themselves. Returns
   * the committed count; undefined, with the scan unchanged, when there are more than CATCH_UP_EVENTS of them (a
   * full count is cheaper then).
   */
  private async catchUp(jobId: string, t: JobTally, scan: Scan): Promise<number | undefined> {
    const read: { seq: number; index: number; failed: boolean }[] = [];
    for (let after = scan.lastSeq; ;) {
      if (read.length >= CATCH_UP_EVENTS) return undefined;
      const m = await nextBySubject(this.jsm, this.n.eventsStream, after + 1, this.n.images(jobId));
      if (m === null) break;
      read.push({ seq: m.seq, index: this.n.indexOf(m.subject), failed: imageFailed(m.data) });
      after = m.seq;
    }
    for (const e of read) if (e.failed) t.outcomes.set(e.index, true);
    const lastSeq = read.at(-1)?.seq ?? scan.lastSeq;
    // A count that ran beside this one may have got further: keep the newer.
    if (t.scan !== undefined && t.scan.lastSeq > lastSeq) return t.scan.committed;
    // The time of the last full count stays: catching up does not put off the next one.
    t.scan = { committed: scan.committed + read.length, lastSeq, atMs: scan.atMs };
    t.own = t.own.filter((seq) => seq > lastSeq);
    return t.scan.committed;
  }

  /** How many image subjects the job has: the server is asked for the page past the end, so it sends only the total. */
  private async scanImages(jobId: string): Promise<{ committed: number; lastSeq: number }> {
    const a = await this.requests.jsRequest<StreamInfoAnswer>(`$JS.API.STREAM.INFO.${this.n.eventsStream}`,
      { subjects_filter: this.n.images(jobId), offset: PAST_THE_END });
    // The server reads the stream's state before it counts subjects: commits up to last_seq are surely counted.
    return { committed: a.total ?? 0, lastSeq: a.state?.last_seq ?? 0 };
  }

  /** Image indexes with a dead-letter marker. */
  private async markers(jobId: string): Promise<number[]> {
    const si = await this.jsm.streams.info(this.n.deadStream, { subjects_filter: this.n.deadSubjects(jobId) });
    return Object.keys(si.state.subjects ?? {}).map(this.n.indexOf);
  }
}

/**
 * Task messages of the job still in the work queue: waiting, leased, or committed with the ack on its way (each
 * holds up to TASK_BLOCK tasks, see jetstream-task-blocks.ts). Asked with a filter that has a wildcard yet
 * matches the job's task subject alone: nats-server 2.9 answers a literal filter from an index that points at
 * the subject's first message block, and once the work queue has emptied and removed that block (past about
 * 4 MB of a job's tasks) it lists no subject at all. Read as 0 tasks left, that made every count of a large job
 * an exact one, a pass over the event stream's subjects per commit.
 */
export async function tasksInQueue(requests: NatsRequests, n: Names, jobId: string): Promise<number> {
  const si = await requests.jsRequest<StreamInfoAnswer>(`$JS.API.STREAM.INFO.${n.tasksStream}`, { subjects_filter: n.taskWildcard(jobId) });
  return si.state?.subjects?.[n.task(jobId)] ?? 0;
}

function imageFailed(data: Uint8Array): boolean {
  const e = JSON.parse(new TextDecoder().decode(data)) as { info?: { finishReason?: FinishReason } };
  return e.info?.finishReason !== FinishReason.SUCCESS;
}
