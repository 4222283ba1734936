// What images cost: the farm's one use of the cost model (jobs/cost.ts), for
// a job's estimate at submit, EstimateCost, and the credits-spent metric.
import type { JobSpec, PromptEntry } from '@latentfarm/proto';
import { describeCost, imageCredits, type CostModel } from '../jobs/cost.js';
import type { Defaults } from '../jobs/params.js';
import { entryParams } from './job-params.js';

export interface CostEstimate {
  images: number;
  credits: number;
  creditsPerImageMin: number;
  creditsPerImageMax: number;
  /** The formula, in words, for the caller to show. */
  formula: string;
}

export class Pricing {
  constructor(private readonly model: CostModel, private readonly defaults: Defaults) {}

  /** Credits of one image of this size and step count. */
  perImage(p: { width: number; height: number; steps: number }): number {
    return imageCredits(this.model, p.width, p.height, p.steps);
  }

  /** The cost of every image of these entries; `spec` is a validated one. */
  estimate(spec: JobSpec, entries: readonly PromptEntry[]): CostEstimate {
    let images = 0;
    let credits = 0;
    let min = Infinity;
    let max = 0;
    for (const e of entries) {
      const c = this.perImage(entryParams(spec, e.overrides, this.defaults));
      const n = e.images || 1;
      images += n;
      credits += c * n;
      min = Math.min(min, c);
      max = Math.max(max, c);
    }
    return { images, credits, creditsPerImageMin: min, creditsPerImageMax: max, formula: describeCost(this.model) };
  }
}
