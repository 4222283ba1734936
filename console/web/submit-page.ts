// Submit: prompts pasted or dropped as a file (plain lines or JSONL, read by
// the farm with the CLI's own parser), the job's parameters, and the cost
// estimate, kept current as the form changes, before anything is submitted.
import type { EstimateView, FarmView, JobView, SubmitRequest } from './api-types.js';
import { get, post } from './api.js';
import { field, h, options, replace } from './dom.js';
import { credits } from './format.js';

const SCHEDULERS = ['ddim', 'pndm', 'euler', 'euler_ancestral', 'dpmpp_2m', 'lcm'];

export function submitPage(main: HTMLElement): () => void {
  let filename = '';
  const prompts = h('textarea', { name: 'prompts', required: true, spellcheck: false, placeholder: 'a lighthouse at dusk, oil painting\na red fox in fresh snow' });
  const jsonl = h('input', { type: 'checkbox', name: 'jsonl' });
  const file = h('input', { type: 'file', accept: '.txt,.jsonl,text/plain,application/jsonl' });
  const model = h('select', { name: 'model' }, ...options([['', 'Farm default']]));
  const num = (name: string, attrs: Record<string, string | number> = {}) => h('input', { type: 'number', name, inputmode: 'numeric', ...attrs });
  const width = num('width', { min: 8, step: 8 });
  const height = num('height', { min: 8, step: 8 });
  const steps = num('steps', { min: 1 });
  const cfg = num('cfgScale', { min: 0, step: 0.5 });
  const seed = num('seed', { min: 0 });
  const images = num('images', { min: 1, value: 1 });
  const priority = num('priority', { min: 1, max: 10, value: 5 });
  const scheduler = h('select', { name: 'scheduler' }, ...options([['', 'Model default'], ...SCHEDULERS.map((s) => [s, s] as const)]));
  const format = h('select', { name: 'format' }, ...options([['png', 'PNG'], ['webp', 'WebP'], ['jpeg', 'JPEG']]));
  const negative = h('input', { name: 'negativePrompt' });
  const labels = h('input', { name: 'labels', placeholder: 'project=demo, owner=me' });
  const estimate = h('div', { class: 'panel', role: 'status', 'aria-live': 'polite', id: 'estimate' }, 'Paste or drop prompts to see the cost.');
  const submit = h('button', { type: 'submit' }, 'Submit job');
  const drop = h('div', { class: 'drop' },
    field('Prompts', prompts, 'One prompt per line (# starts a comment), or JSONL with per-prompt parameters'),
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'f-file' }, 'Or choose or drop a .txt / .jsonl file'), file),
      h('div', {}, jsonl, ' ', h('label', { for: 'f-jsonl' }, 'JSONL (one JSON object per line)'))));
  file.id = 'f-file';
  jsonl.id = 'f-jsonl';
  const form = h('form', { 'aria-label': 'Submit a job', novalidate: true },
    drop,
    h('div', { class: 'fields' },
      field('Model', model), field('Images per prompt', images), field('Width', width, 'blank: model native'),
      field('Height', height, 'blank: model native'), field('Steps', steps, 'blank: farm default'), field('CFG scale', cfg, 'blank: farm default'),
      field('Sampler', scheduler), field('Seed', seed, 'blank: random'), field('Format', format), field('Priority', priority, '1 to 10')),
    h('div', { class: 'fields' }, field('Negative prompt', negative, 'for prompts that set none'), field('Labels', labels, 'key=value, comma separated')),
    estimate,
    h('div', { class: 'actions' }, submit));
  replace(main, h('h1', {}, 'Submit a job'), form);

  get<FarmView>('/api/farm').then((farm) => {
    for (const m of farm.models) model.appendChild(h('option', { value: m.name }, `${m.name} (${m.defaultWidth}×${m.defaultHeight})`));
  }, () => undefined);

  const request = (): SubmitRequest => {
    const n = (el: HTMLInputElement): number | undefined => (el.value.trim() === '' ? undefined : Number(el.value));
    const r: SubmitRequest = {
      text: prompts.value, filename: filename || (jsonl.checked ? 'prompts.jsonl' : 'prompts.txt'),
      model: model.value, scheduler: scheduler.value, format: format.value, negativePrompt: negative.value,
    };
    const set = <K extends keyof SubmitRequest>(k: K, v: SubmitRequest[K] | undefined) => { if (v !== undefined) r[k] = v; };
    set('width', n(width)); set('height', n(height)); set('steps', n(steps)); set('cfgScale', n(cfg)); set('seed', n(seed));
    set('images', n(images)); set('priority', n(priority));
    const l: Record<string, string> = {};
    for (const kv of labels.value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const i = kv.indexOf('=');
      l[i > 0 ? kv.slice(0, i) : kv] = i > 0 ? kv.slice(i + 1) : '';
    }
    r.labels = l;
    return r;
  };

  // One estimate in flight at a time; the latest form wins.
  let asked = 0;
  let timer = 0;
  const refresh = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      if (prompts.value.trim() === '') {
        estimate.textContent = 'Paste or drop prompts to see the cost.';
        return;
      }
      const n = ++asked;
      post<EstimateView>('/api/estimate', request()).then((e) => {
        if (n !== asked) return;
        replace(estimate, h('strong', {}, `${e.prompts} prompt${e.prompts === 1 ? '' : 's'} · ${e.images} image${e.images === 1 ? '' : 's'} · ${credits(e.credits)} credits`),
          h('div', { class: 'muted' }, `${credits(e.perImageMin)}–${credits(e.perImageMax)} per image; ${e.formula}`));
      }, (err: unknown) => {
        if (n === asked) replace(estimate, h('span', { class: 'error' }, (err as Error).message));
      });
    }, 200);
  };
  form.addEventListener('input', refresh);
  form.addEventListener('change', refresh);

  const readFile = async (f: File) => {
    filename = f.name;
    jsonl.checked = /\.jsonl$/i.test(f.name);
    prompts.value = await f.text();
    refresh();
  };
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f !== undefined) void readFile(f);
  });
  jsonl.addEventListener('change', () => { filename = ''; });
  prompts.addEventListener('input', () => { filename = ''; });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f !== undefined) void readFile(f);
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit.disabled = true;
    post<JobView>('/api/jobs', request()).then((job) => {
      location.hash = `#/jobs/${job.id}`;
    }, (err: unknown) => {
      submit.disabled = false;
      replace(estimate, h('span', { class: 'error', role: 'alert' }, (err as Error).message));
    });
  });
  return () => window.clearTimeout(timer);
}
