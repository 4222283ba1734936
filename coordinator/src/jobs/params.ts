// Validation of submitted jobs and resolution of each image's parameters.
// Pure functions: the gRPC layer maps the InvalidArgumentError they throw.
import { InvalidArgumentError } from '@latentfarm/common';
import {
  GenerationParams, ImageFormat, MAX_SEED, Scheduler, batchGroupKey, isSeed, schedulerByProto, schedulerNameList,
  type JobSpec, type PromptEntry, type ResolvedParams,
} from '@latentfarm/proto';
import { checkIdLength, checkLabels, type LabelLimits } from './bounds.js';

export interface Limits extends LabelLimits {
  /** Idempotency keys (and every other id a request carries). */
  maxIdChars: number;
  maxPromptChars: number;
  maxWidth: number;
  maxHeight: number;
  maxSteps: number;
  maxCfgScale: number;
  maxImagesPerEntry: number;
}

export interface Defaults {
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
}

const MAX_PRIORITY = 10;
const DEFAULT_PRIORITY = 5;
const MAX_MODEL_CHARS = 256;

/** Checks a spec's shape; which model it runs on is the model registry's call (an empty model means the farm's default). */
export function validateSpec(spec: JobSpec | undefined, limits: Limits): JobSpec {
  if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: a job needs a spec (its model may be left empty for the farm\'s default)');
  if (spec.model.length > MAX_MODEL_CHARS) throw new InvalidArgumentError('spec.model', `${spec.model.length} characters, at most ${MAX_MODEL_CHARS} allowed`);
  if (spec.priority > MAX_PRIORITY) {
    throw new InvalidArgumentError('spec.priority', `${spec.priority} is out of range: use 1 (lowest) to ${MAX_PRIORITY} (highest), or 0 for ${DEFAULT_PRIORITY}`);
  }
  checkLabels('spec.labels', spec.labels, limits);
  checkIdLength('spec.idempotency_key', spec.idempotencyKey, limits.maxIdChars);
  validateParams(spec.params, 'spec.params', limits);
  return spec;
}

export function validateEntry(entry: PromptEntry, index: number, limits: Limits): void {
  const f = `entries[${index}]`;
  if (entry.prompt.trim() === '') throw new InvalidArgumentError(`${f}.prompt`, 'empty: every entry needs a prompt');
  if (entry.prompt.length > limits.maxPromptChars) {
    throw new InvalidArgumentError(`${f}.prompt`, `${entry.prompt.length} characters, at most ${limits.maxPromptChars} allowed`);
  }
  if (entry.negativePrompt.length > limits.maxPromptChars) {
    throw new InvalidArgumentError(`${f}.negative_prompt`, `${entry.negativePrompt.length} characters, at most ${limits.maxPromptChars} allowed`);
  }
  if (entry.images > limits.maxImagesPerEntry) {
    throw new InvalidArgumentError(`${f}.images`, `${entry.images} images, at most ${limits.maxImagesPerEntry} per entry`);
  }
  checkSeed(entry.seed, `${f}.seed`);
  // An entry's images are seeded by its own `seed` field; a second way to say
  // it would need a rule for when the two differ, so this one is refused.
  if (entry.overrides?.seed !== undefined) {
    throw new InvalidArgumentError(`${f}.overrides.seed`, `not allowed: set the entry's own seed (${f}.seed) for its first image`);
  }
  validateParams(entry.overrides, `${f}.overrides`, limits);
}

function validateParams(p: GenerationParams | undefined, f: string, limits: Limits): void {
  if (p === undefined) return;
  checkSize(p.width, `${f}.width`, limits.maxWidth);
  checkSize(p.height, `${f}.height`, limits.maxHeight);
  if (p.steps !== undefined && (p.steps < 1 || p.steps > limits.maxSteps)) {
    throw new InvalidArgumentError(`${f}.steps`, `${p.steps} is out of range 1..${limits.maxSteps}`);
  }
  if (p.cfgScale !== undefined && !(p.cfgScale >= 0 && p.cfgScale <= limits.maxCfgScale)) {
    throw new InvalidArgumentError(`${f}.cfg_scale`, `${p.cfgScale} is out of range 0..${limits.maxCfgScale}`);
  }
  if (p.scheduler !== Scheduler.UNSPECIFIED && schedulerByProto(p.scheduler) === undefined) {
    throw new InvalidArgumentError(`${f}.scheduler`, `unknown scheduler ${p.scheduler}: use ${schedulerNameList((n) => n.toUpperCase())}, or leave it unset for the model's own`);
  }
  checkSeed(p.seed, `${f}.seed`);
  if (!(p.outputFormat in ImageFormat) || p.outputFormat === ImageFormat.UNRECOGNIZED) {
    throw new InvalidArgumentError(`${f}.output_format`, `unknown format ${p.outputFormat}: use PNG, WEBP or JPEG`);
  }
}

function checkSize(v: number | undefined, f: string, max: number): void {
  if (v === undefined) return;
  if (v === 0 || v % 8 !== 0) throw new InvalidArgumentError(f, `${v} is not a positive multiple of 8`);
  if (v > max) throw new InvalidArgumentError(f, `${v} is above the maximum ${max}`);
}

/** The wire's uint32 cannot carry more, but a caller in the same process could. */
function checkSeed(v: number | undefined, f: string): void {
  if (v !== undefined && !isSeed(v)) throw new InvalidArgumentError(f, `${v} is outside the seed range 0..${MAX_SEED}`);
}

export const priorityWeight = (priority: number): number => (priority === 0 ? DEFAULT_PRIORITY : priority);

/**
 * Fills a job's unset width, height and scheduler with its model's defaults, at
 * submit, so the job records what it renders at; what the request set always wins.
 */
export function withModelDefaults(p: GenerationParams | undefined, d: { width: number; height: number; scheduler: Scheduler }): GenerationParams {
  const out = GenerationParams.fromPartial({ ...p });
  out.width ??= d.width;
  out.height ??= d.height;
  if (out.scheduler === Scheduler.UNSPECIFIED) out.scheduler = d.scheduler;
  return out;
}

/** One image's parameters but its seed, which depends on where the image sits in its job (see EntryTaskSource.seedOf). */
export type EntryParams = Omit<ResolvedParams, 'seed'>;

/** Entry override → job default → coordinator default: the parameters every image of an entry renders with. */
export function resolveEntryParams(job: GenerationParams | undefined, entry: GenerationParams | undefined, defaults: Defaults): EntryParams {
  const pick = <K extends keyof GenerationParams>(k: K): GenerationParams[K] | undefined => entry?.[k] ?? job?.[k];
  return {
    width: pick('width') ?? defaults.width,
    height: pick('height') ?? defaults.height,
    steps: pick('steps') ?? defaults.steps,
    cfgScale: pick('cfgScale') ?? defaults.cfgScale,
    scheduler: entry?.scheduler || job?.scheduler || Scheduler.UNSPECIFIED,
    outputFormat: entry?.outputFormat || job?.outputFormat || ImageFormat.PNG,
  };
}

/**
 * The batch group the fair share files a job under before any of its images
 * is leased: its model at the job-level size. Entries may set other sizes, so
 * the dispatcher goes by the group of the images it actually leased after that.
 */
export const jobBatchGroup = (spec: JobSpec, defaults: Defaults): string =>
  batchGroupKey(spec.model, resolveEntryParams(spec.params, undefined, defaults));
