// The cost model: credits grow linearly with pixels and with steps. One credit
// buys the reference image (512×512 at 50 steps by default), as the public
// service that inspired us charged by size and step count.
import type { GenerationParams, PromptEntry } from '@latentfarm/proto';
import { resolveEntryParams, type Defaults } from './params.js';

/**
 * Credits as the ledger counts them: integer micro-credits ("units"), so sums
 * are exact and a job's reserved = settled + refunded holds to the unit.
 */
export const UNITS_PER_CREDIT = 1_000_000;
export const toUnits = (credits: number): number => Math.round(credits * UNITS_PER_CREDIT);
export const toCredits = (units: number): number => units / UNITS_PER_CREDIT;

export interface CostModel {
  basePixels: number;
  baseSteps: number;
  minCredits: number;
}

export function imageCredits(model: CostModel, width: number, height: number, steps: number): number {
  const credits = ((width * height) / model.basePixels) * (steps / model.baseSteps);
  return Math.max(model.minCredits, credits);
}

export function describeCost(model: CostModel): string {
  return `credits per image = max(${model.minCredits}, width×height/${model.basePixels} × steps/${model.baseSteps})`;
}

/** What a job's images cost, as estimated before it runs (EstimateCost) and reserved when it is accepted (submit). */
export interface JobEstimate {
  images: number;
  credits: number;
  /** What is reserved: the sum of each image's price in units, as each image settles. */
  units: number;
  creditsPerImageMin: number;
  creditsPerImageMax: number;
}

/** Units one image of this size and step count costs at `multiplier` (the model's price factor). */
export function imageUnits(model: CostModel, p: { width: number; height: number; steps: number }, multiplier: number): number {
  return toUnits(imageCredits(model, p.width, p.height, p.steps) * multiplier);
}

/** Prices every entry at its own resolved size and steps, times the model's `multiplier`. */
export function estimateJob(model: CostModel, job: GenerationParams | undefined, entries: readonly PromptEntry[], defaults: Defaults, multiplier = 1): JobEstimate {
  let images = 0;
  let credits = 0;
  let units = 0;
  let min = Infinity;
  let max = 0;
  for (const e of entries) {
    const p = resolveEntryParams(job, e.overrides, defaults);
    const c = imageCredits(model, p.width, p.height, p.steps) * multiplier;
    const n = e.images || 1;
    images += n;
    credits += c * n;
    units += imageUnits(model, p, multiplier) * n;
    min = Math.min(min, c);
    max = Math.max(max, c);
  }
  return { images, credits, units, creditsPerImageMin: entries.length === 0 ? 0 : min, creditsPerImageMax: max };
}
