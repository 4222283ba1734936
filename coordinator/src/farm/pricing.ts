// What images cost: the farm's one use of the cost model (jobs/cost.ts), for
// a job's estimate at submit, EstimateCost, and the credits-spent metric.
import type { JobSpec, PromptEntry } from '@latentfarm/proto';
import { describeCost, estimateJob, imageCredits, type CostModel, type JobEstimate } from '../jobs/cost.js';
import type { Defaults } from '../jobs/params.js';

export interface CostEstimate extends JobEstimate {
  /** The formula, in words, for the caller to show. */
  formula: string;
}

export class Pricing {
  constructor(private readonly model: CostModel, private readonly defaults: Defaults) {}

  /** Credits of one image of this size and step count. */
  perImage(p: { width: number; height: number; steps: number }): number {
    return imageCredits(this.model, p.width, p.height, p.steps);
  }

  /** The cost of every image of these entries, each at its own size and steps; `spec` is a validated one. */
  estimate(spec: JobSpec, entries: readonly PromptEntry[]): CostEstimate {
    return { ...estimateJob(this.model, spec.params, entries, this.defaults), formula: describeCost(this.model) };
  }
}
