// Flags that describe a job, shared by submit, estimate and up, and the
// prompt entries they give (a prompt file, or one --prompt).
import { InvalidArgumentError, opt } from '@latentfarm/common';
import { ImageFormat, MAX_SEED, Scheduler, schedulerNameList, type GenerationParams, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { parseFormat, parseScheduler, parsePromptFile } from './prompts.js';

export const jobOptions = {
  model: opt.string('Model to render with (empty: the farm\'s default model, see `latentfarm status`)', ''),
  prompt: opt.string('One prompt (instead of a prompt file)', ''),
  negativePrompt: opt.string('Negative prompt for entries that set none', ''),
  images: opt.int('Images per prompt (entries may override)', 1, { min: 1 }),
  width: opt.int('Image width, a multiple of 8 (0: the model\'s native width)', 0, { min: 0 }),
  height: opt.int('Image height, a multiple of 8 (0: the model\'s native height)', 0, { min: 0 }),
  steps: opt.int('Denoising steps (0: the farm default)', 0, { min: 0 }),
  cfgScale: opt.number('Classifier-free guidance scale (-1: the farm default)', -1),
  scheduler: opt.string(`${schedulerNameList()} (empty: the model default)`, ''),
  seed: opt.int(`Job seed, 0 to ${MAX_SEED}; image i gets seed + i, modulo 2^32 (-1: random)`, -1, { min: -1, max: MAX_SEED }),
  format: opt.string('png, webp or jpeg', 'png'),
  priority: opt.int('1 (lowest) to 10 (highest); share of the farm is proportional', 5, { min: 1, max: 10 }),
  label: opt.list('Labels, key=value, comma separated', []),
  idempotencyKey: opt.string('Resubmitting with the same key returns the same job (empty: submit makes a key of its own, so its retries are safe)', ''),
};

export interface JobFlags {
  model: string; prompt: string; negativePrompt: string; images: number; width: number; height: number; steps: number;
  cfgScale: number; scheduler: string; seed: number; format: string; priority: number; label: string[]; idempotencyKey: string;
}

export function specFromFlags(f: JobFlags): JobSpec {
  const params: GenerationParams = {
    scheduler: f.scheduler === '' ? Scheduler.UNSPECIFIED : parseScheduler(f.scheduler, '--scheduler'),
    outputFormat: parseFormat(f.format, '--format') ?? ImageFormat.PNG,
  };
  if (f.width > 0) params.width = f.width;
  if (f.height > 0) params.height = f.height;
  if (f.steps > 0) params.steps = f.steps;
  if (f.cfgScale >= 0) params.cfgScale = f.cfgScale;
  if (f.seed >= 0) params.seed = f.seed;
  const labels: Record<string, string> = {};
  for (const kv of f.label) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError('--label', `"${kv}" is not key=value`);
    labels[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { model: f.model, params, priority: f.priority, labels, idempotencyKey: f.idempotencyKey };
}

/** Applies the per-job flags that entries inherit (images per prompt, negative prompt). */
export function withEntryDefaults(e: PromptEntry, f: JobFlags): PromptEntry {
  return { ...e, images: e.images || f.images, negativePrompt: e.negativePrompt || f.negativePrompt };
}

/** The entries of a prompt file, or of one --prompt; the two together are refused. */
export async function* entrySource(file: string | undefined, flags: JobFlags): AsyncGenerator<PromptEntry> {
  if (flags.prompt !== '') {
    if (file !== undefined) throw new InvalidArgumentError('--prompt', 'give either --prompt or a prompt file, not both');
    yield withEntryDefaults({ prompt: flags.prompt, negativePrompt: '', images: 0 }, flags);
    return;
  }
  if (file === undefined) throw new InvalidArgumentError('prompts', 'give a prompt file (text or .jsonl) or --prompt "..."');
  for await (const e of parsePromptFile(file)) yield withEntryDefaults(e, flags);
}

export async function collectEntries(file: string | undefined, flags: JobFlags): Promise<PromptEntry[]> {
  const out: PromptEntry[] = [];
  for await (const e of entrySource(file, flags)) out.push(e);
  return out;
}
