// Credits: `credits grant <tenant> <amount>` (an admin key) and
// `credits show [tenant]` (a tenant key shows its own; an admin key names the
// tenant), as text or --json.
import { flagOnly, InvalidArgumentError, opt } from '@latentfarm/common';
import { AdminClient, FarmClient } from '@latentfarm/client';
import { CreditsAccount, CreditsEntry, CreditsEntryKind, GRANT_REQUEST_ID_RULE, isGrantRequestId, type GetCreditsResponse } from '@latentfarm/proto';
import { clientOptions, newIdempotencyKey, retryNotice, withConnection, type Command } from './command.js';
import { print, printJson } from './output.js';

/** Credits as people read them: at most 6 decimals, no float noise. */
export const credits = (n: number): string => String(Math.round(n * 1e6) / 1e6);

/** A positive amount of credits from the command line; anything else is an input error (exit 2). */
export function parseAmount(raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('amount', `${raw === undefined ? 'missing' : `"${raw.slice(0, 40)}" is not a number above 0`}: give the credits to grant, e.g. 100`);
  }
  return n;
}

function accountText(a: CreditsAccount): string {
  return `tenant ${a.tenantId}: balance ${credits(a.balance)} (granted ${credits(a.granted)}, settled ${credits(a.settled)}, ` +
    `open ${credits(a.open)} in ${a.openJobs} jobs, refunded ${credits(a.refunded)} of ${credits(a.reserved)} reserved)`;
}

function entryText(e: CreditsEntry): string {
  const at = new Date(e.unixMs).toISOString();
  switch (e.kind) {
    case CreditsEntryKind.GRANT: return `${at}  grant    +${credits(e.amount)}`;
    case CreditsEntryKind.RESERVE: return `${at}  reserve  -${credits(e.amount)}  job ${e.jobId}`;
    case CreditsEntryKind.SETTLE: return `${at}  settle   +${credits(e.refunded)} refunded, ${credits(e.settled)} of ${credits(e.amount)} charged  job ${e.jobId}`;
    default: return `${at}  ${e.kind}`;
  }
}

export const creditsCommands: Record<string, Command> = {
  grant: {
    usage: 'Usage: latentfarm credits grant [options] <tenant-id> <amount>\n\nGives a tenant credits (an entry of its ledger) and prints its account after (--json: the account). Needs an admin key.\n' +
      'Every grant has a request id (a fresh one unless --request-id names it), so it is retried safely while the coordinator is unreachable\n' +
      '(until --deadline-ms); run again with the same --request-id, a grant is made once.',
    options: {
      ...clientOptions,
      // Flag only: one id in the environment would make every later grant "granted before".
      requestId: flagOnly(opt.string(`Request id of this grant, ${GRANT_REQUEST_ID_RULE} (default: a fresh one); the coordinator makes a grant once per id and tenant`, '')),
    },
    async run(v, pos) {
      const [tenant, raw] = pos;
      if (tenant === undefined || tenant === '') throw new InvalidArgumentError('tenant-id', 'missing: give the tenant and the credits, e.g. latentfarm credits grant acme 100');
      const amount = parseAmount(raw);
      const given = v['requestId'] as string;
      if (given !== '' && !isGrantRequestId(given)) throw new InvalidArgumentError('--request-id', `"${given.slice(0, 64)}" is not ${GRANT_REQUEST_ID_RULE}`);
      const requestId = given || newIdempotencyKey();
      const g = await withConnection(v, (address, options) => new AdminClient(address, {
        ...options, onRetry: retryNotice(address, () => `request id ${requestId}, so it cannot grant twice`),
      }), (c) => c.grantCredits(tenant, amount, { requestId }));
      if (v['json'] === true) printJson(CreditsAccount.toJSON(g.account));
      else print(`${g.granted ? `granted ${credits(amount)}` : `request id ${requestId} was granted before; nothing granted again`}; ${accountText(g.account)}`);
      return 0;
    },
  },
  show: {
    usage: 'Usage: latentfarm credits show [options] [tenant-id]\n\nA tenant\'s balance and totals, then its ledger entries, newest first. A tenant key shows its own\n' +
      '(no tenant-id needed); an admin key names the tenant.',
    options: {
      ...clientOptions,
      limit: opt.int('Ledger entries to print (0: none)', 20, { min: 0, max: 1000 }),
      pageToken: opt.string('Go on from where an earlier page ended (its next_page_token)', ''),
    },
    async run(v, pos) {
      const limit = v['limit'] as number;
      const res: GetCreditsResponse = await withConnection(v, (address, options) => new FarmClient(address, { ...options, retries: 4 }), (c) =>
        c.getCredits({ tenantId: pos[0] ?? '', pageSize: Math.max(1, limit), pageToken: v['pageToken'] as string }));
      const entries = limit === 0 ? [] : res.entries;
      if (v['json'] === true) {
        printJson({ account: res.account === undefined ? undefined : CreditsAccount.toJSON(res.account), entries: entries.map((e) => CreditsEntry.toJSON(e)), nextPageToken: res.nextPageToken });
        return 0;
      }
      if (res.account !== undefined) print(accountText(res.account));
      for (const e of entries) print(entryText(e));
      if (limit > 0 && res.nextPageToken !== '') print(`(older entries: --page-token ${res.nextPageToken})`);
      return 0;
    },
  },
};
