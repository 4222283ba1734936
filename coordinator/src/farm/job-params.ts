// The farm's one door to the parameter rules of jobs/: what one image of a job
// renders at (for pricing) and which batch group a job's images fall in (for
// dispatch). Everything else in farm/ asks here, so a change of those rules
// is a change of this file.
import type { GenerationParams, JobSpec, ResolvedParams } from '@latentfarm/proto';
import { resolveParams, type Defaults } from '../jobs/params.js';

/** The parameters of an entry's images (its overrides, else the job's, else the coordinator's); the seed is not resolved here. */
export function entryParams(spec: JobSpec, overrides: GenerationParams | undefined, defaults: Defaults): ResolvedParams {
  return resolveParams(spec.params, overrides, defaults, 0);
}

/** Images of one group batch together on a worker: same model and size. */
export function batchGroupOf(spec: JobSpec, defaults: Defaults): string {
  const p = entryParams(spec, undefined, defaults);
  return `${spec.model}:${p.width}x${p.height}`;
}
