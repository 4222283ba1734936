// The submit page's request (prompt text and parameters) as a job spec and
// prompt entries: the text is read by the same parser as the CLI's prompt
// files, so a pasted file means what `latentfarm submit FILE` means. Every
// field is checked here, naming it; the farm validates the rest as for gRPC.
import { InvalidArgumentError, isJsonl, parseFormat, parsePromptText, parseScheduler } from '@latentfarm/common';
import { ImageFormat, Scheduler, type GenerationParams, type JobSpec, type PromptEntry } from '@latentfarm/proto';

const KEYS = new Set(['text', 'filename', 'model', 'width', 'height', 'steps', 'cfgScale', 'scheduler', 'seed', 'format', 'images', 'negativePrompt', 'priority', 'labels']);

export interface Submission {
  spec: JobSpec;
  entries: PromptEntry[];
}

function optInt(r: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = r[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidArgumentError(key, `${short(v)} is not an integer from ${min} to ${max}`);
  return v;
}

function optString(r: Record<string, unknown>, key: string): string {
  const v = r[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new InvalidArgumentError(key, 'must be a string');
  return v;
}

/** A short prefix of what was sent, never all of it. */
const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
};

export function submission(body: unknown): Submission {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new InvalidArgumentError('body', 'must be a JSON object');
  const r = body as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!KEYS.has(k)) throw new InvalidArgumentError(k.slice(0, 40), `unknown field (allowed: ${[...KEYS].join(', ')})`);
  const filename = optString(r, 'filename') || 'prompts';
  const text = optString(r, 'text');
  const parsed = parsePromptText(text, filename.slice(0, 100), isJsonl(filename));
  if (parsed.length === 0) throw new InvalidArgumentError('text', 'no prompts: paste one prompt per line, or JSONL lines with a "prompt" key');

  const params: GenerationParams = { scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG };
  const scheduler = optString(r, 'scheduler');
  if (scheduler !== '') params.scheduler = parseScheduler(scheduler, 'scheduler');
  const format = optString(r, 'format');
  if (format !== '') params.outputFormat = parseFormat(format, 'format');
  const width = optInt(r, 'width', 8, 1 << 16);
  const height = optInt(r, 'height', 8, 1 << 16);
  const steps = optInt(r, 'steps', 1, 10_000);
  const seed = optInt(r, 'seed', 0, 2 ** 32 - 1);
  if (width !== undefined) params.width = width;
  if (height !== undefined) params.height = height;
  if (steps !== undefined) params.steps = steps;
  if (seed !== undefined) params.seed = seed;
  const cfg = r['cfgScale'];
  if (cfg !== undefined && cfg !== null && cfg !== '') {
    if (typeof cfg !== 'number' || !Number.isFinite(cfg)) throw new InvalidArgumentError('cfgScale', `${short(cfg)} is not a number`);
    params.cfgScale = cfg;
  }
  const labels: Record<string, string> = {};
  const rawLabels = r['labels'];
  if (rawLabels !== undefined && rawLabels !== null) {
    if (typeof rawLabels !== 'object' || Array.isArray(rawLabels)) throw new InvalidArgumentError('labels', 'must be an object of strings');
    for (const [k, v] of Object.entries(rawLabels)) {
      if (typeof v !== 'string') throw new InvalidArgumentError(`labels.${k.slice(0, 40)}`, 'must be a string');
      labels[k] = v;
    }
  }
  const images = optInt(r, 'images', 1, 1_000_000) ?? 1;
  const negativePrompt = optString(r, 'negativePrompt');
  const entries = parsed.map((e) => ({ ...e, images: e.images || images, negativePrompt: e.negativePrompt || negativePrompt }));
  const spec: JobSpec = { model: optString(r, 'model'), params, priority: optInt(r, 'priority', 1, 10) ?? 5, labels, idempotencyKey: '' };
  return { spec, entries };
}
