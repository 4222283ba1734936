// A tenant's weight and quotas as the farm applies them: what its record sets,
// else the farm's defaults (the --tenant-* flags). 0 in a record means "the
// farm's default", so a proto3 field left unset and a reset read the same.
import type { TenantRecord } from '../store/identity.js';

export interface TenantLimits {
  /** Its share of the workers beside other tenants with waiting images (stride weight). */
  readonly weight: number;
  /** Images submitted and not yet finished, over all its jobs. */
  readonly maxQueuedImages: number;
  /** Jobs not yet finished (queued or running). */
  readonly maxRunningJobs: number;
  /** Submits a minute (a token bucket holding a minute's worth). */
  readonly submitsPerMinute: number;
}

export function limitsOf(record: TenantRecord | undefined, defaults: TenantLimits): TenantLimits {
  const pick = (v: number | undefined, d: number) => (v === undefined || v <= 0 ? d : v);
  return {
    weight: pick(record?.weight, defaults.weight),
    maxQueuedImages: pick(record?.maxQueuedImages, defaults.maxQueuedImages),
    maxRunningJobs: pick(record?.maxRunningJobs, defaults.maxRunningJobs),
    submitsPerMinute: pick(record?.submitsPerMinute, defaults.submitsPerMinute),
  };
}
