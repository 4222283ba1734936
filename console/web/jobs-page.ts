// Jobs: a page of jobs with live progress, filtered by state and label, and
// cancel. Unfinished jobs on the page follow the farm's job events (one
// stream for the page); nothing is polled.
import { JOB_STATES, type JobPage, type JobView, type LiveEvent } from './api-types.js';
import { follow, get, post } from './api.js';
import { announce, field, h, options, replace } from './dom.js';
import { credits, FINISHED, time } from './format.js';
import { JobProgress } from './progress.js';

const PAGE_SIZE = 20;

export function jobsPage(main: HTMLElement, query: URLSearchParams): () => void {
  const state = h('select', { name: 'state' }, ...options([['', 'Any state'], ...JOB_STATES.map((s) => [s, s.toLowerCase()] as const)], query.get('state') ?? ''));
  const label = h('input', { name: 'label', placeholder: 'key=value', value: query.get('label') ?? '' });
  const filter = h('form', { class: 'row', role: 'search', 'aria-label': 'Filter jobs' },
    field('State', state), field('Label', label, 'key=value'), h('button', { type: 'submit' }, 'Filter'));
  const status = h('p', { class: 'muted' });
  const body = h('tbody');
  const table = h('table', {},
    h('caption', { class: 'visually-hidden' }, 'Jobs, newest first'),
    h('thead', {}, h('tr', {}, ...['Job', 'State', 'Progress', 'Credits (est. / spent)', 'Labels', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    body);
  const pager = h('nav', { class: 'actions', 'aria-label': 'Pages' });
  replace(main, h('h1', {}, 'Jobs'), filter, status, table, pager);

  // Tokens of the pages before this one, for "Previous".
  const tokens: string[] = [];
  let token = query.get('page') ?? '';
  let stop: () => void = () => undefined;

  filter.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (state.value !== '') q.set('state', state.value);
    if (label.value.trim() !== '') q.set('label', label.value.trim());
    location.hash = `#/jobs${q.size > 0 ? `?${q.toString()}` : ''}`;
  });

  const load = async (): Promise<void> => {
    stop();
    const q = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    if (state.value !== '') q.set('state', state.value);
    if (label.value.trim() !== '') q.set('label', label.value.trim());
    if (token !== '') q.set('pageToken', token);
    let page: JobPage;
    try {
      page = await get<JobPage>(`/api/jobs?${q.toString()}`);
    } catch (err) {
      replace(status, h('span', { class: 'error', role: 'alert' }, (err as Error).message));
      return;
    }
    status.textContent = page.jobs.length === 0 ? 'No jobs match.' : '';
    const rows = new Map<string, Row>();
    replace(body, ...page.jobs.map((j) => {
      const r = row(j, load);
      rows.set(j.id, r);
      return r.tr;
    }));
    replace(pager,
      h('button', { type: 'button', class: 'secondary', disabled: tokens.length === 0, onclick: () => { token = tokens.pop() ?? ''; void load(); } }, 'Previous page'),
      h('button', { type: 'button', class: 'secondary', disabled: page.nextPageToken === '', onclick: () => { tokens.push(token); token = page.nextPageToken; void load(); } }, 'Next page'));
    const live = page.jobs.filter((j) => !FINISHED.has(j.state)).map((j) => `${j.id}:${j.lastSequence}`);
    if (live.length > 0) {
      stop = follow<LiveEvent>(`/api/live?jobs=${live.join(',')}`, (e) => rows.get(e.jobId)?.update(e));
    }
  };
  void load();
  return () => stop();
}

interface Row {
  tr: HTMLTableRowElement;
  update(e: LiveEvent): void;
}

function row(j: JobView, reload: () => Promise<void>): Row {
  const progress = new JobProgress(j.images, j.state, `Progress of job ${j.id}`);
  const stateCell = h('td', {}, h('span', { class: `state state-${j.state}` }, j.state));
  const spent = h('span', {}, credits(j.spentCredits));
  const cancel = h('button', {
    type: 'button', class: 'danger', 'aria-label': `Cancel job ${j.id}`, hidden: FINISHED.has(j.state),
    onclick: async () => {
      cancel.disabled = true;
      try {
        const after = await post<JobView>(`/api/jobs/${j.id}/cancel`);
        announce(`Job ${j.id} ${after.state.toLowerCase()}`);
        await reload();
      } catch (err) {
        cancel.disabled = false;
        announce((err as Error).message);
      }
    },
  }, 'Cancel');
  const tr = h('tr', { 'data-job': j.id },
    h('th', { scope: 'row' }, h('a', { href: `#/jobs/${j.id}` }, j.id), h('div', { class: 'muted' }, `${j.model} · ${j.prompts} prompt${j.prompts === 1 ? '' : 's'}`)),
    stateCell,
    h('td', {}, progress.el),
    h('td', {}, credits(j.estimatedCredits), ' / ', spent),
    h('td', {}, ...Object.entries(j.labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`))),
    h('td', {}, time(j.createdUnixMs)),
    h('td', {}, cancel));
  // The page's stream starts after each job's sequence as listed; a reconnect starts there again, so events
  // already counted are skipped by their sequence.
  let seen = j.lastSequence;
  return {
    tr,
    update(e) {
      if (e.kind !== 'progress') {
        if (e.seq <= seen) return;
        seen = e.seq;
      }
      if (e.kind === 'image') {
        progress.imageFinished(e.image.id, e.image.ok, e.unixMs);
        // Spent credits follow rendered images pro rata, as the farm charges them.
        const c = progress.current;
        spent.textContent = credits(c.total > 0 ? (j.estimatedCredits * c.succeeded) / c.total : 0);
      } else if (e.kind === 'state') {
        progress.setState(e.state, e.images);
        replace(stateCell, h('span', { class: `state state-${e.state}` }, e.state));
        cancel.hidden = FINISHED.has(e.state);
      }
    },
  };
}
