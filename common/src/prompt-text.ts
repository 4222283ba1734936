// Prompt text: plain (one prompt per line; blank lines and lines starting
// with # are skipped) or JSONL (one object per line, with per-entry
// overrides). Errors name the line. Shared by the CLI's prompt files and the
// web console's pasted or dropped prompts, so both read the same format.
import { ImageFormat, MAX_SEED, Scheduler, schedulerByName, schedulerNameList, type GenerationParams, type PromptEntry } from '@latentfarm/proto';
import { InvalidArgumentError } from './errors.js';

const JSONL_KEYS = new Set(['prompt', 'negative_prompt', 'images', 'seed', 'width', 'height', 'steps', 'cfg_scale', 'scheduler', 'format']);

/** A scheduler as the CLI and JSONL spell it (the farm's scheduler table, any case). */
export function parseScheduler(name: string, where: string): Scheduler {
  const row = schedulerByName(name);
  if (row === undefined) throw new InvalidArgumentError(where, `unknown scheduler "${name}": use ${schedulerNameList()}`);
  return row.proto;
}

export function parseFormat(name: string, where: string): ImageFormat {
  const v = (ImageFormat as unknown as Record<string, number>)[name.toUpperCase()];
  if (v === undefined || v === ImageFormat.UNRECOGNIZED || v === ImageFormat.UNSPECIFIED) {
    throw new InvalidArgumentError(where, `unknown format "${name}": use png, webp or jpeg`);
  }
  return v as ImageFormat;
}

function uint(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_SEED) throw new InvalidArgumentError(where, `${JSON.stringify(v)} is not an integer from 0 to ${MAX_SEED}`);
  return v;
}

function jsonlEntry(line: string, where: string): PromptEntry {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (err) {
    throw new InvalidArgumentError(where, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new InvalidArgumentError(where, 'each line must be a JSON object');
  const r = o as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!JSONL_KEYS.has(k)) throw new InvalidArgumentError(where, `unknown key "${k}" (allowed: ${[...JSONL_KEYS].join(', ')})`);
  }
  if (typeof r['prompt'] !== 'string') throw new InvalidArgumentError(where, '"prompt" must be a string');
  if (r['negative_prompt'] !== undefined && typeof r['negative_prompt'] !== 'string') throw new InvalidArgumentError(where, '"negative_prompt" must be a string');
  const overrides: GenerationParams = { scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.UNSPECIFIED };
  if (r['width'] !== undefined) overrides.width = uint(r['width'], `${where}: width`);
  if (r['height'] !== undefined) overrides.height = uint(r['height'], `${where}: height`);
  if (r['steps'] !== undefined) overrides.steps = uint(r['steps'], `${where}: steps`);
  if (r['cfg_scale'] !== undefined) {
    if (typeof r['cfg_scale'] !== 'number') throw new InvalidArgumentError(where, '"cfg_scale" must be a number');
    overrides.cfgScale = r['cfg_scale'];
  }
  if (r['scheduler'] !== undefined) overrides.scheduler = parseScheduler(String(r['scheduler']), where);
  if (r['format'] !== undefined) overrides.outputFormat = parseFormat(String(r['format']), where);
  const entry: PromptEntry = {
    prompt: r['prompt'], negativePrompt: (r['negative_prompt'] as string | undefined) ?? '',
    images: r['images'] === undefined ? 0 : uint(r['images'], `${where}: images`), overrides,
  };
  if (r['seed'] !== undefined) entry.seed = uint(r['seed'], `${where}: seed`);
  return entry;
}

/** Parses one line of a prompt file; undefined for lines to skip. */
export function parsePromptLine(line: string, lineNo: number, file: string, jsonl: boolean): PromptEntry | undefined {
  const t = line.trim();
  if (t === '' || (!jsonl && t.startsWith('#'))) return undefined;
  const where = `${file}:${lineNo}`;
  if (jsonl) return jsonlEntry(t, where);
  return { prompt: t, negativePrompt: '', images: 0 };
}

export const isJsonl = (file: string): boolean => /\.jsonl$/i.test(file);

export function parsePromptText(text: string, file = '<input>', jsonl = isJsonl(file)): PromptEntry[] {
  const out: PromptEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const e = parsePromptLine(line, i + 1, file, jsonl);
    if (e !== undefined) out.push(e);
  });
  return out;
}

