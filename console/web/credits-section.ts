// The Farm page's credits: the tenant's balance and totals and its ledger
// (grants, reservations, settlements), newest first, a page at a time. An
// admin's own jobs are unmetered, so an admin names the tenant to look at.
import type { CreditsEntryView, CreditsView } from './api-types.js';
import { get } from './api.js';
import { announce, field, h, replace } from './dom.js';
import { exactCredits as credits, time } from './format.js';

const PAGE_SIZE = 25;

export function creditsSection(): HTMLElement {
  const summary = h('div', { class: 'panel summary', id: 'credits-summary' }, 'Loading…');
  const body = h('tbody');
  const table = h('table', { 'aria-labelledby': 'credits-heading', hidden: true },
    h('caption', { class: 'visually-hidden' }, 'Credits ledger, newest first'),
    h('thead', {}, h('tr', {}, ...['Entry', 'Job', 'Credits', 'Time'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'More entries');
  const tenant = h('input', { name: 'tenant', placeholder: 'tenant id', autocomplete: 'off' });
  const pick = h('form', { class: 'row', 'aria-label': 'Show a tenant\'s credits', hidden: true },
    field('Tenant', tenant), h('button', { type: 'submit' }, 'Show credits'));
  const section = h('section', { 'aria-labelledby': 'credits-heading' }, h('h2', { id: 'credits-heading' }, 'Credits'), pick, summary, table, more);

  let token = '';
  const load = async (append: boolean): Promise<void> => {
    const q = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    if (tenant.value.trim() !== '') q.set('tenant', tenant.value.trim());
    if (append) q.set('pageToken', token);
    let v: CreditsView;
    try {
      v = await get<CreditsView>(`/api/credits?${q.toString()}`);
    } catch (err) {
      replace(summary, h('span', { class: 'error', role: 'alert' }, (err as Error).message));
      table.hidden = true;
      more.hidden = true;
      return;
    }
    pick.hidden = !v.admin;
    token = v.nextPageToken;
    more.hidden = token === '';
    const a = v.account;
    if (a === null) {
      replace(summary, 'Your own jobs are unmetered (admin). Name a tenant to see its credits.');
      table.hidden = true;
      return;
    }
    replace(summary,
      h('span', { 'data-credits': 'balance' }, h('strong', {}, credits(a.balance)), ' credits left', v.admin ? ` (tenant ${a.tenantId})` : ''),
      h('span', {}, h('strong', {}, credits(a.granted)), ' granted'),
      h('span', {}, h('strong', {}, credits(a.open)), ` held by ${a.openJobs} unfinished job${a.openJobs === 1 ? '' : 's'}`),
      h('span', {}, h('strong', {}, credits(a.settled)), ' spent'),
      h('span', {}, h('strong', {}, credits(a.refunded)), ' refunded'));
    const rows = v.entries.map(entryRow);
    if (append) body.append(...rows);
    else replace(body, ...rows);
    table.hidden = false;
    if (!append && rows.length === 0) replace(body, h('tr', {}, h('td', { colspan: 4 }, 'No entries yet.')));
    if (append) {
      // The button may be gone now: keyboard focus goes to the first new entry, and the count is read out.
      rows[0]?.querySelector('th')?.focus();
      announce(`${rows.length} more entr${rows.length === 1 ? 'y' : 'ies'}`);
    }
  };
  more.addEventListener('click', () => void load(true));
  pick.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(false);
  });
  void load(false);
  return section;
}

const KIND: Record<CreditsEntryView['kind'], string> = { grant: 'Granted', reserve: 'Reserved', settle: 'Settled' };

function entryRow(e: CreditsEntryView): HTMLTableRowElement {
  const amount = e.kind === 'grant' ? `+${credits(e.amount)}`
    : e.kind === 'reserve' ? `${credits(e.amount)} held`
      : `${credits(e.settled)} spent, ${credits(e.refunded)} refunded (of ${credits(e.amount)} held)`;
  return h('tr', { 'data-entry': e.seq },
    h('th', { scope: 'row', tabindex: -1 }, KIND[e.kind]),
    h('td', {}, e.jobId === '' ? '—' : h('a', { href: `#/jobs/${e.jobId}` }, e.jobId)),
    h('td', {}, amount),
    h('td', {}, time(e.unixMs)));
}
