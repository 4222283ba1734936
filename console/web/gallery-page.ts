// A job's gallery: its images as they finish (from the job's event stream,
// replayed from the start, then live), each opening full size with the
// parameters it was rendered with, "render again", and the whole job as a ZIP.
import type { ImageView, JobView, LiveEvent } from './api-types.js';
import { follow, get, post } from './api.js';
import { announce, h, replace } from './dom.js';
import { credits, FINISHED, time } from './format.js';
import { JobProgress } from './progress.js';
import { VirtualGrid } from './virtual-grid.js';

export function galleryPage(main: HTMLElement, jobId: string): () => void {
  let stop: () => void = () => undefined;
  let closed = false;
  replace(main, h('h1', {}, `Job ${jobId}`), h('p', { class: 'muted' }, 'Loading…'));
  void (async () => {
    let job: JobView;
    try {
      job = await get<JobView>(`/api/jobs/${encodeURIComponent(jobId)}`);
    } catch (err) {
      replace(main, h('h1', {}, `Job ${jobId}`), h('p', { class: 'error', role: 'alert' }, (err as Error).message));
      return;
    }
    if (closed) return;
    // The stream replays every event from the start: counts begin at zero and grow with it.
    const progress = new JobProgress({ ...job.images, succeeded: 0, failed: 0, cancelled: 0 }, 'QUEUED', `Progress of job ${job.id}`);
    const stateEl = h('span', { class: `state state-${job.state}` }, job.state);
    const spent = h('span', {}, credits(job.spentCredits));
    const viewer = h('dialog', { 'aria-label': 'Image' });
    const grid = new VirtualGrid<ImageView>(`Images of job ${job.id}`, (img) => thumbnail(img, () => open(viewer, img)));
    const cancel = h('button', {
      type: 'button', class: 'danger', hidden: FINISHED.has(job.state),
      onclick: async () => {
        cancel.disabled = true;
        try {
          await post<JobView>(`/api/jobs/${job.id}/cancel`);
        } catch (err) {
          cancel.disabled = false;
          announce((err as Error).message);
        }
      },
    }, 'Cancel job');
    const labels = Object.entries(job.labels).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`));
    replace(main,
      h('h1', {}, `Job ${job.id}`),
      h('div', { class: 'panel summary' },
        stateEl, progress.el,
        h('span', {}, 'Credits ', credits(job.estimatedCredits), ' est. / ', spent, ' spent'),
        h('span', { class: 'muted' }, `${job.model} · created ${time(job.createdUnixMs)}`),
        ...labels),
      h('div', { class: 'actions' },
        cancel,
        h('a', { class: 'button secondary', href: `/api/jobs/${job.id}/download`, download: `${job.id}.zip` }, 'Download all images (ZIP)')),
      h('h2', { id: 'images-heading' }, 'Images'),
      grid.el,
      viewer);
    stop = follow<LiveEvent>(`/api/jobs/${job.id}/events`, (e) => {
      if (e.kind === 'image') {
        grid.push(e.image);
        progress.imageFinished(e.image.id, e.image.ok, e.unixMs);
        const c = progress.current;
        spent.textContent = credits(c.total > 0 ? (job.estimatedCredits * c.succeeded) / c.total : 0);
      } else if (e.kind === 'progress') {
        progress.steps(e.images);
      } else {
        progress.setState(e.state, e.images);
        stateEl.className = `state state-${e.state}`;
        stateEl.textContent = e.state;
        cancel.hidden = FINISHED.has(e.state);
        if (FINISHED.has(e.state)) announce(`Job ${job.id} ${e.state.toLowerCase()}`);
      }
    });
  })();
  return () => {
    closed = true;
    stop();
  };
}

function imageUrl(img: ImageView): string {
  return `/api/images/${img.jobId}/${img.index}`;
}

function thumbnail(img: ImageView, onOpen: () => void): HTMLElement {
  const label = `Image ${img.index}: ${img.prompt}`;
  const inner = img.ok
    ? h('img', { src: imageUrl(img), alt: '', loading: 'lazy', decoding: 'async', width: img.width, height: img.height })
    : h('span', { class: 'failed' }, `Image ${img.index} failed`);
  return h('div', { 'data-image': img.id }, h('button', { type: 'button', 'aria-label': label, title: img.prompt, onclick: onOpen }, inner));
}

function open(dialog: HTMLDialogElement, img: ImageView): void {
  const status = h('p', { role: 'status', class: 'muted' });
  const again = h('button', {
    type: 'button',
    onclick: async () => {
      again.disabled = true;
      try {
        const job = await post<JobView>('/api/jobs', renderAgain(img));
        dialog.close();
        location.hash = `#/jobs/${job.id}`;
      } catch (err) {
        again.disabled = false;
        status.textContent = (err as Error).message;
      }
    },
  }, 'Render again');
  const rows: [string, string][] = [
    ['Prompt', img.prompt], ['Negative prompt', img.negativePrompt || '—'], ['Seed', String(img.seed)],
    ['Size', `${img.width}×${img.height}`], ['Steps', String(img.steps)], ['CFG', String(img.cfgScale)],
    ['Sampler', img.scheduler || 'model default'], ['Model', img.model], ['Worker', img.workerId || '—'],
    ['Time', time(img.finishedUnixMs)],
  ];
  if (!img.ok) rows.push(['Error', img.error]);
  replace(dialog,
    h('h2', {}, `Image ${img.id}`),
    h('div', { class: 'viewer' },
      img.ok ? h('img', { src: imageUrl(img), alt: img.prompt, width: img.width, height: img.height }) : null,
      h('dl', {}, ...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { 'data-field': k }, v)]))),
    h('div', { class: 'actions' },
      again,
      img.ok ? h('a', { class: 'button secondary', href: imageUrl(img), download: `${img.jobId}-${img.index}.${img.format === 'jpeg' ? 'jpg' : img.format}` }, 'Download image') : null,
      h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, 'Close')),
    status);
  dialog.showModal();
}

/** The same image again: one JSONL line with every parameter it was rendered with (the CLI's prompt format). */
function renderAgain(img: ImageView): { text: string; filename: string; model: string; format: string } {
  const line = {
    prompt: img.prompt, negative_prompt: img.negativePrompt, seed: img.seed, width: img.width, height: img.height,
    steps: img.steps, cfg_scale: img.cfgScale, ...(img.scheduler !== '' ? { scheduler: img.scheduler } : {}),
  };
  return { text: JSON.stringify(line), filename: 'again.jsonl', model: img.model, format: img.format };
}
