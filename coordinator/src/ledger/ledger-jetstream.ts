// The ledger on JetStream: a stream <prefix>_LEDGER with one subject per
// tenant, <prefix>.ledger.<tenant>. Every message is one entry plus the
// account after it: its totals, its open reservations and the request ids of
// its last grants (so the last message of the subject is the whole account,
// read with one direct get).
// Each append names the subject's last sequence it read
// (Nats-Expected-Last-Subject-Sequence): two coordinators that read the same
// account cannot both append, the loser reads again and decides again. So a
// reservation is checked against the balance it is appended after, and a
// settle removes the job from the open set in the very message that records
// it: it cannot apply twice. Our nats-server (2.9) has no multi-subject
// expected sequences, which is why an account is one subject.
//
// The open set travels in every message, so it is bounded (MAX_OPEN_RESERVATIONS
// per tenant); a submit past it is refused, not queued.
import { randomBytes } from 'node:crypto';
import { backoffMs, sleep, UnavailableError, type Logger } from '@latentfarm/common';
import { DiscardPolicy, JetStreamApiError, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  applyEntry, emptyAccount, REMEMBERED_GRANT_IDS, settlement, type Account, type GrantOutcome, type Ledger, type LedgerEntry, type OpenReservation, type ReserveOutcome,
} from './ledger.js';

export interface JetStreamLedgerOptions {
  url: string;
  prefix: string;
  replicas: number;
  timeoutMs: number;
  log: Logger;
}

/** Open reservations one tenant may hold: each account message carries them all. */
export const MAX_OPEN_RESERVATIONS = 1_000;
const WRONG_LAST_SEQUENCE = 10071;
const NS_PER_MS = 1_000_000;
const TRANSIENT = new Set(['TimeoutError', 'ClosedConnectionError', 'ConnectionError', 'DrainingConnectionError', 'RequestError', 'NoRespondersError', 'JetStreamNotEnabled']);
const isTransient = (err: unknown): boolean => err instanceof Error && TRANSIENT.has(err.name);
const enc = new TextEncoder();
const dec = new TextDecoder();

type NewEntry = LedgerEntry extends infer E ? (E extends LedgerEntry ? Omit<E, 'seq'> : never) : never;

/** One message: an entry, and the account after it. */
interface AccountMsg {
  entry: NewEntry;
  account: Account;
  open: Record<string, { amount: number; multiplier: number; unixMs: number }>;
  /** Stream sequence of the tenant's previous message (0: none): entries are read back newest first along it. */
  prev: number;
  /**
   * The request ids of the tenant's last REMEMBERED_GRANT_IDS grants that had one, newest first, with their
   * amounts (absent in messages of earlier versions, and while there are none).
   */
  grantIds?: [requestId: string, amount: number][];
}

interface Last {
  seq: number;
  body: AccountMsg | undefined;
}

export class JetStreamLedger implements Ledger {
  private readonly stream: string;
  /**
   * The append under way per tenant here: this coordinator's appends to one account go one at a time, so they
   * never conflict with each other (500 concurrent submits of one tenant would otherwise retry each other
   * quadratically); only appends from other coordinators can, and those retry.
   */
  private readonly tails = new Map<string, Promise<unknown>>();

  private constructor(private readonly nc: NatsConnection, private readonly js: JetStreamClient, private readonly jsm: JetStreamManager,
    private readonly o: JetStreamLedgerOptions) {
    this.stream = `${o.prefix}_LEDGER`;
  }

  static async connect(o: JetStreamLedgerOptions): Promise<JetStreamLedger> {
    const nc = await connect({
      servers: o.url.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      name: 'latentfarm-coordinator-ledger',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      timeout: Math.min(o.timeoutMs, 5_000),
    });
    // JetStream may still be starting (a restarted server recovers its streams first): wait, as the job store does.
    for (let i = 0; ; i++) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: o.timeoutMs });
        const ledger = new JetStreamLedger(nc, jetstream(nc, { timeout: o.timeoutMs }), jsm, o);
        await jsm.streams.info(ledger.stream).catch(() => jsm.streams.add({
          name: ledger.stream, subjects: [`${o.prefix}.ledger.>`], retention: RetentionPolicy.Limits, storage: StorageType.File,
          num_replicas: o.replicas, discard: DiscardPolicy.Old, duplicate_window: 120_000 * NS_PER_MS,
        }));
        return ledger;
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'ledger stream not ready yet; retrying');
        await sleep(backoffMs(i, 200, 2_000));
      }
    }
  }

  private subject(tenantId: string): string {
    return `${this.o.prefix}.ledger.${tenantId}`;
  }

  /** Retries what NATS did not answer, up to about two timeouts; then the caller gets UNAVAILABLE. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.o.timeoutMs * 2;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err)) throw err;
        if (Date.now() > deadline || this.nc.isClosed()) throw new UnavailableError(`the ledger (NATS) did not answer; ${what} failed, retry later`, { cause: err });
        await sleep(backoffMs(attempt, 50, 1_000));
      }
    }
  }

  private async last(tenantId: string): Promise<Last> {
    const m = await this.retrying('reading the account', () => this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(tenantId) }));
    return m === null ? { seq: 0, body: undefined } : { seq: m.seq, body: JSON.parse(dec.decode(m.data)) as AccountMsg };
  }

  /**
   * Reads the account, lets `decide` append one entry (or not), and appends it only if nothing was appended since
   * the read; otherwise reads and decides again. The message id is the same across retries of one append, so a
   * publish whose ack was lost is not stored twice.
   */
  private change<T>(tenantId: string, decide: (last: AccountMsg | undefined) => { write?: (prev: number) => AccountMsg; result: (seq: number, body: AccountMsg | undefined) => T }): Promise<T> {
    const before = this.tails.get(tenantId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.append(tenantId, decide));
    this.tails.set(tenantId, run);
    void run.catch(() => undefined).finally(() => { if (this.tails.get(tenantId) === run) this.tails.delete(tenantId); });
    return run;
  }

  private async append<T>(tenantId: string, decide: (last: AccountMsg | undefined) => { write?: (prev: number) => AccountMsg; result: (seq: number, body: AccountMsg | undefined) => T }): Promise<T> {
    for (;;) {
      const last = await this.last(tenantId);
      const d = decide(last.body);
      if (d.write === undefined) return d.result(last.seq, last.body);
      const body = d.write(last.seq);
      const msgID = randomBytes(12).toString('hex');
      try {
        const ack = await this.retrying('writing the account', () =>
          this.js.publish(this.subject(tenantId), enc.encode(JSON.stringify(body)), { msgID, expect: { lastSubjectSequence: last.seq } }));
        return d.result(ack.seq, body);
      } catch (err) {
        if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) continue;
        throw err;
      }
    }
  }

  grant(tenantId: string, amount: number, unixMs: number, requestId = ''): Promise<GrantOutcome> {
    return this.change(tenantId, (last) => {
      const before = last?.account ?? emptyAccount(tenantId);
      const ids = last?.grantIds ?? [];
      const earlier = requestId === '' ? undefined : ids.find(([id]) => id === requestId);
      if (earlier !== undefined) return { result: (): GrantOutcome => ({ granted: false, account: before, earlierAmount: earlier[1] }) };
      const account = applyEntry(before, { kind: 'grant', amount });
      const grantIds = requestId === '' ? ids : [[requestId, amount] as [string, number], ...ids].slice(0, REMEMBERED_GRANT_IDS);
      return {
        write: (prev) => ({ entry: { unixMs, tenantId, kind: 'grant', amount }, account, open: last?.open ?? {}, prev, ...idsOf(grantIds) }),
        result: (): GrantOutcome => ({ granted: true, account }),
      };
    });
  }

  reserve(r: OpenReservation): Promise<ReserveOutcome> {
    return this.change(r.tenantId, (last) => {
      const before = last?.account ?? emptyAccount(r.tenantId);
      const open = last?.open ?? {};
      if (open[r.jobId] !== undefined) throw new Error(`job ${r.jobId} has a reservation already`);
      if (before.balance < r.amount) return { result: (): ReserveOutcome => ({ ok: false, balance: before.balance, shortfall: r.amount - before.balance }) };
      if (before.openJobs >= MAX_OPEN_RESERVATIONS) return { result: (): ReserveOutcome => ({ ok: false, tooManyOpen: before.openJobs }) };
      const account = applyEntry(before, { kind: 'reserve', amount: r.amount });
      return {
        write: (prev) => ({
          entry: { unixMs: r.unixMs, tenantId: r.tenantId, kind: 'reserve', jobId: r.jobId, amount: r.amount }, account,
          open: { ...open, [r.jobId]: { amount: r.amount, multiplier: r.multiplier, unixMs: r.unixMs } }, prev, ...idsOf(last?.grantIds),
        }),
        result: (): ReserveOutcome => ({ ok: true, account }),
      };
    });
  }

  settle(tenantId: string, jobId: string, settled: number, unixMs: number): Promise<Extract<LedgerEntry, { kind: 'settle' }> | undefined> {
    return this.change(tenantId, (last) => {
      const held = last?.open[jobId];
      if (last === undefined || held === undefined) return { result: () => undefined };
      const s = settlement(held.amount, settled);
      const open = { ...last.open };
      delete open[jobId];
      const entry = { unixMs, tenantId, kind: 'settle' as const, jobId, ...s };
      return {
        write: (prev) => ({ entry, account: applyEntry(last.account, { kind: 'settle', ...s }), open, prev, ...idsOf(last.grantIds) }),
        result: (seq) => ({ seq, ...entry }),
      };
    });
  }

  async account(tenantId: string): Promise<Account> {
    return (await this.last(tenantId)).body?.account ?? emptyAccount(tenantId);
  }

  async reservation(tenantId: string, jobId: string): Promise<OpenReservation | undefined> {
    const held = (await this.last(tenantId)).body?.open[jobId];
    return held === undefined ? undefined : { tenantId, jobId, ...held };
  }

  async entries(tenantId: string, before: number, limit: number): Promise<LedgerEntry[]> {
    // `before` is 0 or the seq of an entry of this tenant read earlier: the page goes on from that entry's predecessor.
    let seq: number;
    if (before <= 0) {
      seq = (await this.last(tenantId)).seq;
    } else {
      const m = await this.bySeq(before);
      seq = m === undefined || m.body.entry.tenantId !== tenantId ? 0 : m.body.prev;
    }
    const out: LedgerEntry[] = [];
    while (seq > 0 && out.length < limit) {
      const m = await this.bySeq(seq);
      if (m === undefined) break;
      out.push({ ...m.body.entry, seq } as LedgerEntry);
      seq = m.body.prev;
    }
    return out;
  }

  private async bySeq(seq: number): Promise<{ body: AccountMsg } | undefined> {
    const m = await this.retrying('reading the ledger', () => this.jsm.streams.getMessage(this.stream, { seq })).catch((err: unknown) => {
      if (err instanceof JetStreamApiError) return null; // expired or deleted
      throw err;
    });
    return m === null ? undefined : { body: JSON.parse(dec.decode(m.data)) as AccountMsg };
  }

  async openReservations(): Promise<OpenReservation[]> {
    const info = await this.retrying('listing accounts', () => this.jsm.streams.info(this.stream, { subjects_filter: `${this.o.prefix}.ledger.>` }));
    const out: OpenReservation[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const tenantId = subject.slice(`${this.o.prefix}.ledger.`.length);
      const body = (await this.last(tenantId)).body;
      for (const [jobId, r] of Object.entries(body?.open ?? {})) out.push({ tenantId, jobId, ...r });
    }
    return out.sort((a, b) => a.unixMs - b.unixMs);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

/** The grant ids a message carries on: none is no field at all, so tenants that never use them pay nothing. */
function idsOf(grantIds: AccountMsg['grantIds']): Pick<AccountMsg, 'grantIds'> {
  return grantIds === undefined || grantIds.length === 0 ? {} : { grantIds };
}
