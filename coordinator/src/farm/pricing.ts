// What images cost: the farm's one use of the cost model (jobs/cost.ts), for
// a job's estimate at submit, EstimateCost, the credits reserved and settled
// (farm/credits.ts), and the credits-spent metric. Each model may carry a
// price multiplier (--prices model=factor); a job's images settle at the
// multiplier its reservation recorded, so a price change never moves a
// reservation already made.
import { ConfigError } from '@latentfarm/common';
import type { JobSpec, PromptEntry } from '@latentfarm/proto';
import { describeCost, estimateJob, imageCredits, imageUnits, type CostModel, type JobEstimate } from '../jobs/cost.js';
import type { Defaults } from '../jobs/params.js';

export interface CostEstimate extends JobEstimate {
  /** The formula, in words, for the caller to show. */
  formula: string;
}

type Size = { width: number; height: number; steps: number };

export class Pricing {
  constructor(private readonly model: CostModel, private readonly defaults: Defaults, private readonly multipliers: ReadonlyMap<string, number> = new Map()) {}

  /** The model's price factor: 1 unless --prices names it. */
  multiplier(model: string): number {
    return this.multipliers.get(model) ?? 1;
  }

  /** Credits of one image of this model, size and step count. */
  perImage(model: string, p: Size): number {
    return imageCredits(this.model, p.width, p.height, p.steps) * this.multiplier(model);
  }

  /** Units one image settles at the multiplier its job's reservation recorded. */
  imageUnits(p: Size, multiplier: number): number {
    return imageUnits(this.model, p, multiplier);
  }

  /** The cost of every image of these entries, each at its own size and steps; `spec` is a validated one. */
  estimate(spec: JobSpec, entries: readonly PromptEntry[]): CostEstimate {
    const m = this.multiplier(spec.model);
    const formula = m === 1 ? describeCost(this.model) : `${describeCost(this.model)}, × ${m} for model ${spec.model}`;
    return { ...estimateJob(this.model, spec.params, entries, this.defaults, m), formula };
  }
}

/** `--prices` items, `model=factor`, as a map; a malformed item fails the start naming it. */
export function parsePrices(items: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) {
    const at = item.lastIndexOf('=');
    const model = item.slice(0, at).trim();
    const factor = Number(item.slice(at + 1));
    if (at <= 0 || model === '' || item.slice(at + 1).trim() === '' || !Number.isFinite(factor) || factor <= 0 || factor > 1_000_000) {
      throw new ConfigError(`--prices: "${item.slice(0, 80)}" is not model=factor with a factor above 0 (e.g. sdxl=2.5)`);
    }
    out.set(model, factor);
  }
  return out;
}
