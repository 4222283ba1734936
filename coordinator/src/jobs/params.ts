// Validation of submitted jobs and resolution of each image's parameters.
// Pure functions: the gRPC layer maps the InvalidArgumentError they throw.
import { InvalidArgumentError } from '@latentfarm/common';
import { ImageFormat, Scheduler, type GenerationParams, type JobSpec, type PromptEntry, type ResolvedParams } from '@latentfarm/proto';

export interface Limits {
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
const MAX_LABELS = 64;

export function validateSpec(spec: JobSpec | undefined, limits: Limits, isKnownModel: (m: string) => boolean): JobSpec {
  if (spec === undefined) throw new InvalidArgumentError('spec', 'missing: a job needs a spec with at least a model');
  if (spec.model === '') throw new InvalidArgumentError('spec.model', 'missing: name the model to render with');
  if (!isKnownModel(spec.model)) {
    // Checked by the caller as NOT_FOUND; kept here so validation reads in one place.
    throw new UnknownModelError(spec.model);
  }
  if (spec.priority > MAX_PRIORITY) {
    throw new InvalidArgumentError('spec.priority', `${spec.priority} is out of range: use 1 (lowest) to ${MAX_PRIORITY} (highest), or 0 for ${DEFAULT_PRIORITY}`);
  }
  if (Object.keys(spec.labels).length > MAX_LABELS) throw new InvalidArgumentError('spec.labels', `at most ${MAX_LABELS} labels`);
  if (spec.idempotencyKey.length > 256) throw new InvalidArgumentError('spec.idempotency_key', 'at most 256 characters');
  validateParams(spec.params, 'spec.params', limits);
  return spec;
}

export class UnknownModelError extends Error {
  constructor(readonly model: string) {
    super(`model "${model}" is not served by this farm`);
    this.name = 'UnknownModelError';
  }
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
  if (!(p.scheduler in Scheduler) || p.scheduler === Scheduler.UNRECOGNIZED) {
    throw new InvalidArgumentError(`${f}.scheduler`, `unknown scheduler ${p.scheduler}: use DDIM, PNDM, EULER, EULER_ANCESTRAL, DPMPP_2M or LCM`);
  }
  if (!(p.outputFormat in ImageFormat) || p.outputFormat === ImageFormat.UNRECOGNIZED) {
    throw new InvalidArgumentError(`${f}.output_format`, `unknown format ${p.outputFormat}: use PNG, WEBP or JPEG`);
  }
}

function checkSize(v: number | undefined, f: string, max: number): void {
  if (v === undefined) return;
  if (v === 0 || v % 8 !== 0) throw new InvalidArgumentError(f, `${v} is not a positive multiple of 8`);
  if (v > max) throw new InvalidArgumentError(f, `${v} is above the maximum ${max}`);
}

export const priorityWeight = (priority: number): number => (priority === 0 ? DEFAULT_PRIORITY : priority);

/** Entry override → job default → coordinator default, for one image. */
export function resolveParams(job: GenerationParams | undefined, entry: GenerationParams | undefined, defaults: Defaults, seed: number): ResolvedParams {
  const pick = <K extends keyof GenerationParams>(k: K): GenerationParams[K] | undefined => entry?.[k] ?? job?.[k];
  const scheduler = entry?.scheduler || job?.scheduler || Scheduler.UNSPECIFIED;
  const outputFormat = entry?.outputFormat || job?.outputFormat || ImageFormat.PNG;
  return {
    width: pick('width') ?? defaults.width,
    height: pick('height') ?? defaults.height,
    steps: pick('steps') ?? defaults.steps,
    cfgScale: pick('cfgScale') ?? defaults.cfgScale,
    scheduler,
    seed: seed >>> 0,
    outputFormat,
  };
}
