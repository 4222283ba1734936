// A tenant's credits as the farm moves them: checked and reserved when a job
// is submitted, settled once when it ends (its succeeded images charged, the
// rest refunded), granted by admins, shown to tenants. Admins' jobs (owner
// '') are unmetered. The arithmetic and atomicity live in the Ledger; this
// decides when each step happens and keeps it exact across crashes:
//
// - submit: reserve (a refusal writes nothing), then claim the idempotency
//   key and create the job. A coordinator killed in between
//   leaves a reservation with no job; the reconciler releases it once it is
//   RESERVE_GRACE_MS old and the job still does not exist. (The other order
//   would leave a job nobody paid for.) A job whose reservation was released
//   while it was still being created is cancelled by its submitter.
// - end: every coordinator that sees a job end (its own, or another's through
//   the store's change feed) settles it; the ledger closes a reservation once.
//   The reconciler, at start and every RECONCILE_MS, settles ended jobs whose
//   settle a crash lost.
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError, type Logger } from '@latentfarm/common';
import { FinishReason, GRANT_REQUEST_ID_RULE, isGrantRequestId } from '@latentfarm/proto';
import { toCredits, toUnits } from '../jobs/cost.js';
import { AUDIT_ECHO_CHARS, auditedAdminAction } from '../auth/audit.js';
import type { Account, Ledger, LedgerEntry } from '../ledger/ledger.js';
import type { JobRecord, Store } from '../store/store.js';
import { isFinished } from './job-table.js';
import type { Pricing } from './pricing.js';
import { ADMIN_OWNER, type Principal } from './principal.js';
import type { Timers } from './timers.js';

/** A reservation whose job does not exist after this long was left by a submit that died: it is released. */
export const RESERVE_GRACE_MS = 5 * 60_000;
const RECONCILE_MS = 30_000;
/** Most credits one grant may give: keeps sums of units far inside exact integers. */
export const MAX_GRANT_CREDITS = 1_000_000_000;
const EVENT_PAGE = 1_000;

export interface CreditsDeps {
  readonly store: Store;
  readonly ledger: Ledger;
  readonly pricing: Pricing;
  readonly timers: Timers;
  readonly log: Logger;
  /** Whether a tenant of that id exists (grants go to tenants only). */
  readonly tenantExists: (tenantId: string) => Promise<boolean>;
  /** Overrides RESERVE_GRACE_MS (tests). */
  readonly reserveGraceMs?: number;
}

/** What a grant did: the account after it (or as it is, for a grant made before under the same request id). */
export interface CreditsGrant {
  account: Account;
  /** False when the request id named a grant made before: nothing was granted again. */
  granted: boolean;
}

export interface CreditsView {
  account: Account;
  entries: LedgerEntry[];
  nextPageToken: string;
}

export class Credits {
  /** Settles under way, so the farm can tell when it has acted on everything (Farm.settled). */
  private readonly settling = new Set<Promise<void>>();

  constructor(private readonly d: CreditsDeps) {
    d.timers.every(RECONCILE_MS, () => { void this.reconcile(); });
  }

  /** Reserves the job's price against its owner's balance, atomically; throws with the shortfall when it does not cover it. */
  async reserve(owner: string, jobId: string, units: number, model: string): Promise<void> {
    if (owner === ADMIN_OWNER) return;
    const r = await this.d.ledger.reserve({ tenantId: owner, jobId, amount: units, multiplier: this.d.pricing.multiplier(model), unixMs: Date.now() });
    if (r.ok) return;
    if ('tooManyOpen' in r) throw new ResourceExhaustedError(`tenant ${owner} has ${r.tooManyOpen} unfinished jobs holding credits, the most allowed; wait for some to end`);
    throw shortfall(owner, units, r.balance);
  }

  /**
   * For a job priced as its prompts stream in: a check to run after each chunk, refusing the job as soon as its
   * price passes its owner's balance (FAILED_PRECONDITION, as reserve does) rather than once every chunk is written.
   * The balance is read again only when the price passes the last one read; the reserve at the end decides.
   */
  runningCheck(owner: string): (units: number) => Promise<void> {
    if (owner === ADMIN_OWNER) return () => Promise.resolve();
    let known = -1;
    return async (units) => {
      if (units <= known) return;
      known = (await this.d.ledger.account(owner)).balance;
      if (units > known) throw shortfall(owner, units, known);
    };
  }

  /** The job was not created after all: its whole reservation is refunded. */
  async release(owner: string, jobId: string): Promise<void> {
    if (owner === ADMIN_OWNER) return;
    await this.d.ledger.settle(owner, jobId, 0, Date.now());
  }

  /** Whether the job's reservation is still open (false: the reconciler released it, the job must not run). */
  async stillReserved(owner: string, jobId: string): Promise<boolean> {
    return owner === ADMIN_OWNER || (await this.d.ledger.reservation(owner, jobId)) !== undefined;
  }

  /** Settles the job in the background (it just ended); a failure is left to the reconciler. */
  settleSoon(job: JobRecord): void {
    const p = this.settle(job).catch((err: unknown) => this.d.log.warn({ err, job: job.id }, 'settling credits failed; the reconciler will'));
    this.settling.add(p);
    void p.finally(() => this.settling.delete(p));
  }

  /** Settles under way; empty when none. */
  pending(): Promise<void>[] {
    return [...this.settling];
  }

  /** Settles an ended job once: its succeeded images at the price reserved, the rest refunded. */
  async settle(job: JobRecord): Promise<void> {
    if (job.owner === ADMIN_OWNER || !isFinished(job)) return;
    const held = await this.d.ledger.reservation(job.owner, job.id);
    if (held === undefined) return;
    const settled = await this.succeededUnits(job.id, held.multiplier);
    const s = await this.d.ledger.settle(job.owner, job.id, settled, Date.now());
    if (s !== undefined) this.d.log.info({ job: job.id, tenant: job.owner, reserved: toCredits(s.reserved), settled: toCredits(s.settled), refunded: toCredits(s.refunded) }, 'credits settled');
  }

  /** Each committed image's event is its settlement: exactly once in the store, with the size and steps it was rendered at. */
  private async succeededUnits(jobId: string, multiplier: number): Promise<number> {
    let units = 0;
    for (let after = 0; ;) {
      const events = await this.d.store.readEvents(jobId, after, EVENT_PAGE);
      if (events.length === 0) return units;
      for (const e of events) {
        if (e.kind === 'image' && e.info.finishReason === FinishReason.SUCCESS && e.info.params !== undefined) units += this.d.pricing.imageUnits(e.info.params, multiplier);
      }
      after = events.at(-1)!.seq;
    }
  }

  /**
   * Settles ended jobs a crash left open, and releases reservations whose job
   * was never created. True when every open reservation was looked at (the
   * retention sweep expires jobs only then, so none goes before its settlement).
   */
  async reconcile(): Promise<boolean> {
    try {
      const grace = this.d.reserveGraceMs ?? RESERVE_GRACE_MS;
      for (const r of await this.d.ledger.openReservations()) {
        const job = await this.d.store.getJob(r.jobId);
        if (job !== undefined) await this.settle(job);
        else if (Date.now() - r.unixMs > grace && (await this.d.ledger.settle(r.tenantId, r.jobId, 0, Date.now())) !== undefined) {
          this.d.log.warn({ job: r.jobId, tenant: r.tenantId, credits: toCredits(r.amount) }, 'released the credits of a job that was never created');
        }
      }
      return true;
    } catch (err) {
      this.d.log.warn({ err }, 'reconciling the ledger failed; it is tried again');
      return false;
    }
  }

  /**
   * An admin action: exactly one audit line, whatever its outcome (auth/audit.ts). A grant sent again with its
   * request id (a retry after a lost answer) grants nothing and says so; the same id with other credits is refused.
   */
  grant(principal: Principal, tenantId: string, credits: number, requestId: string): Promise<CreditsGrant> {
    return auditedAdminAction(this.d.log, principal, 'credits_grant', { tenant: tenantId.slice(0, AUDIT_ECHO_CHARS), credits, requestId: requestId.slice(0, AUDIT_ECHO_CHARS) },
      () => this.grantChecked(tenantId, credits, requestId), (g) => ({ balance: toCredits(g.account.balance), granted: String(g.granted) }), 'only an admin grants credits');
  }

  private async grantChecked(tenantId: string, credits: number, requestId: string): Promise<CreditsGrant> {
    if (!Number.isFinite(credits) || credits <= 0 || credits > MAX_GRANT_CREDITS) {
      throw new InvalidArgumentError('credits', `must be above 0 and at most ${MAX_GRANT_CREDITS}`);
    }
    const units = toUnits(credits);
    if (units <= 0) throw new InvalidArgumentError('credits', 'must be at least 0.000001');
    if (requestId !== '' && !isGrantRequestId(requestId)) {
      throw new InvalidArgumentError('request_id', `"${requestId.slice(0, 64)}" is not ${GRANT_REQUEST_ID_RULE}`);
    }
    await this.tenant(tenantId);
    const outcome = await this.d.ledger.grant(tenantId, units, Date.now(), requestId);
    if (!outcome.granted && outcome.earlierAmount !== units) {
      throw new InvalidArgumentError('request_id', `"${requestId}" named a grant of ${fmt(outcome.earlierAmount)} credits to tenant ${tenantId}, ` +
        `not ${fmt(units)}; a different grant needs a new request id`);
    }
    return { account: outcome.account, granted: outcome.granted };
  }


  /** A tenant reads its own credits (`tenantId` empty or its own); an admin names any tenant. */
  async show(principal: Principal, tenantId: string, pageSize: number, pageToken: string): Promise<CreditsView> {
    const id = principal.kind === 'tenant' && tenantId === '' ? principal.tenantId : tenantId;
    // Another tenant's account reads like one that does not exist, so tenant ids cannot be probed.
    if (principal.kind === 'tenant' && id !== principal.tenantId) throw new NotFoundError(`tenant "${id.slice(0, 63)}" does not exist`);
    if (principal.kind !== 'tenant' && principal.kind !== 'admin') throw new PermissionDeniedError('a worker key has no credits');
    if (id === '') throw new InvalidArgumentError('tenant_id', 'required for an admin: name the tenant');
    await this.tenant(id);
    const before = pageToken === '' ? 0 : Number(pageToken);
    if (!Number.isSafeInteger(before) || before < 0) throw new InvalidArgumentError('page_token', 'is not a token this server gave out');
    const size = pageSize === 0 ? 50 : Math.min(pageSize, 1000);
    const entries = await this.d.ledger.entries(id, before, size + 1);
    const page = entries.slice(0, size);
    return { account: await this.d.ledger.account(id), entries: page, nextPageToken: entries.length > size ? String(page.at(-1)!.seq) : '' };
  }

  private async tenant(tenantId: string): Promise<void> {
    if (!/^[a-z0-9-]{1,63}$/.test(tenantId) || !(await this.d.tenantExists(tenantId))) throw new NotFoundError(`tenant "${tenantId.slice(0, 63)}" does not exist`);
  }
}

function shortfall(tenantId: string, units: number, balance: number): FailedPreconditionError {
  const short = units - balance;
  return new FailedPreconditionError(
    `not enough credits: the job costs ${fmt(units)}, tenant ${tenantId} has ${fmt(balance)}, ${fmt(short)} short; an admin grants more with \`latentfarm credits grant ${tenantId} ${Math.ceil(toCredits(short))}\``,
  );
}

const fmt = (units: number): string => String(Math.round(toCredits(units) * 1e6) / 1e6);
