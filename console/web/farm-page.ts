// Farm: the workers (models, batch fill, images per second, last heartbeat)
// and the queue per model, refreshed by the coordinator's status stream; and
// the tenant's credits with their history (credits-section.ts).
import type { FarmView, WorkerView } from './api-types.js';
import { follow } from './api.js';
import { creditsSection } from './credits-section.js';
import { h, replace } from './dom.js';
import { ago } from './format.js';

export function farmPage(main: HTMLElement): () => void {
  const summary = h('div', { class: 'panel summary' }, 'Loading…');
  const workers = h('tbody');
  const models = h('tbody');
  replace(main,
    h('h1', {}, 'Farm'), summary,
    h('h2', { id: 'workers-heading' }, 'Workers'),
    h('table', { 'aria-labelledby': 'workers-heading' },
      h('thead', {}, h('tr', {}, ...['Worker', 'Models', 'Batch fill', 'Images/s', 'Images', 'Last heartbeat', 'Engine'].map((t) => h('th', { scope: 'col' }, t)))),
      workers),
    h('h2', { id: 'queue-heading' }, 'Queue per model'),
    h('table', { 'aria-labelledby': 'queue-heading' },
      h('thead', {}, h('tr', {}, ...['Model', 'Queued images', 'Workers', 'Default size', 'Default sampler'].map((t) => h('th', { scope: 'col' }, t)))),
      models),
    creditsSection());
  // Each worker's images per second, from its completed count between two views.
  const seen = new Map<string, { count: number; at: number; rate: number }>();
  const rate = (w: WorkerView, at: number): number => {
    const prev = seen.get(w.id);
    const r = prev === undefined || at <= prev.at ? 0 : ((w.imagesCompleted - prev.count) * 1000) / (at - prev.at);
    // Smoothed, so one busy second does not make the figure jump.
    const smooth = prev === undefined ? r : prev.rate * 0.7 + r * 0.3;
    seen.set(w.id, { count: w.imagesCompleted, at, rate: smooth });
    return smooth;
  };
  return follow<FarmView>('/api/farm/events', (f) => {
    replace(summary,
      h('span', {}, h('strong', {}, String(f.workers.length)), ' workers'),
      h('span', {}, h('strong', {}, String(f.queuedImages)), ' images queued'),
      h('span', {}, h('strong', {}, String(f.leasedImages)), ' rendering'),
      h('span', {}, h('strong', {}, String(f.activeJobs)), ' active jobs'),
      h('span', {}, h('strong', {}, f.imagesPerSecond.toFixed(1)), ' images/s (last minute)'),
      h('span', {}, h('strong', {}, String(f.imagesCompleted)), ' images since start'));
    replace(workers, ...f.workers.map((w) => h('tr', { 'data-worker': w.id },
      h('th', { scope: 'row' }, w.id, w.draining ? h('span', { class: 'muted' }, ' (draining)') : null),
      h('td', {}, w.models.join(', ')),
      h('td', {}, h('meter', { min: 0, max: w.maxBatch || 1, value: w.leased, 'aria-label': `Batch fill of ${w.id}` }), ` ${w.leased}/${w.maxBatch}`),
      h('td', {}, rate(w, f.unixMs).toFixed(1)),
      h('td', {}, String(w.imagesCompleted)),
      h('td', {}, ago(w.lastSeenUnixMs, f.unixMs)),
      h('td', {}, `${w.engine} · ${w.provider}${w.device ? ` · ${w.device}` : ''}`))));
    // Tenants are not shown the farm's workers (an admin sees them); for an admin an empty list means none is connected.
    if (f.workers.length === 0) replace(workers, h('tr', {}, h('td', { colspan: 7 }, 'No workers to show (none connected, or your key is not an admin\'s).')));
    replace(models, ...f.models.map((m) => h('tr', {},
      h('th', { scope: 'row' }, m.name, m.name === f.defaultModel ? h('span', { class: 'muted' }, ' (default)') : null),
      h('td', {}, String(m.queued)),
      h('td', {}, String(m.workers)),
      h('td', {}, `${m.defaultWidth}×${m.defaultHeight}`),
      h('td', {}, m.defaultScheduler || 'model\'s own'))));
  });
}
