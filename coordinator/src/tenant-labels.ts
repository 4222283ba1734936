// The `tenant` label of the per-tenant metrics, with a bounded number of
// values: every tenant value is a series per metric (and per outcome or
// reason), so a farm with thousands of tenants must not hand Prometheus
// thousands of series per metric. The first `max` tenants seen since this
// coordinator started keep their own label; every later one is counted as
// tenant="other". First seen, not top by volume: a tenant's label never changes
// while the process runs, so each series is one continuous counter (rate() and
// increase() stay right), and no series is dropped and remade as volumes shift.
// After a restart the first `max` may be others: dashboards sum by tenant, and
// "other" is the rest.
import { ADMIN_OWNER } from './farm/principal.js';

/** The label of jobs an admin submitted (`up`, `--no-auth`, an admin key). */
export const ADMIN_TENANT_LABEL = 'admin';
/** The label of every tenant past the cap. */
export const OTHER_TENANT_LABEL = 'other';
/** Tenant ids that would read as one of the labels above: no tenant may take them. */
export const RESERVED_TENANT_IDS: readonly string[] = [ADMIN_TENANT_LABEL, OTHER_TENANT_LABEL];
/** Tenants with their own label unless --max-tenant-labels says otherwise. */
export const DEFAULT_MAX_TENANT_LABELS = 50;

export class TenantLabels {
  private readonly kept = new Set<string>();
  /** Every label returned so far: at most `max` + 2. */
  private readonly given = new Set<string>();

  /** `max`: tenants that keep their own label (0: every tenant is "other"). */
  constructor(readonly max: number) {}

  /** The label of a job owner (a tenant id, or ADMIN_OWNER). */
  of(owner: string): string {
    if (this.kept.has(owner)) return owner;
    let label = OTHER_TENANT_LABEL;
    if (owner === ADMIN_OWNER) label = ADMIN_TENANT_LABEL;
    else if (this.kept.size < this.max && !RESERVED_TENANT_IDS.includes(owner)) {
      this.kept.add(owner);
      label = owner;
    }
    this.given.add(label);
    return label;
  }

  /** Every label handed out since start (for gauges that show 0 rather than nothing for a tenant seen before). */
  labels(): ReadonlySet<string> {
    return this.given;
  }
}
