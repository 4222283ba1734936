// Each tenant's limits as this coordinator applies them, read from the
// identity store and kept for `ttlMs`: a change made through this coordinator
// counts at once (changed()), one made through another coordinator after at
// most `ttlMs`. The fair-share policy reads weights synchronously (weightOf),
// so a tenant not read yet counts at the default weight until it is.
import { UnavailableError } from '@latentfarm/common';
import type { TenantRecord } from '../store/identity.js';
import { limitsOf, type TenantLimits } from './tenant-limits.js';

export interface TenantDirectoryOptions {
  /** The tenant's record; undefined when there is none (its limits are the defaults). */
  readonly lookup: (tenantId: string) => Promise<TenantRecord | undefined>;
  readonly defaults: TenantLimits;
  readonly ttlMs: number;
  readonly now?: () => number;
}

interface Entry {
  limits: TenantLimits;
  atMs: number;
}

export class TenantDirectory {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<TenantLimits>>();
  private readonly now: () => number;

  constructor(private readonly o: TenantDirectoryOptions) {
    this.now = o.now ?? Date.now;
  }

  get defaults(): TenantLimits {
    return this.o.defaults;
  }

  /** The tenant's limits, read again when older than the TTL; a stale copy serves while the store is unreachable. */
  async limits(tenantId: string): Promise<TenantLimits> {
    const e = this.entries.get(tenantId);
    if (e !== undefined && this.now() - e.atMs < this.o.ttlMs) return e.limits;
    try {
      return await this.load(tenantId);
    } catch (err) {
      if (e !== undefined) return e.limits;
      throw new UnavailableError('the tenant store is unreachable; retry later', { cause: err });
    }
  }

  /** The tenant's weight as last read (the default until first read); a stale one is read again in the background. */
  weightOf(tenantId: string): number {
    const e = this.entries.get(tenantId);
    if (e === undefined || this.now() - e.atMs >= this.o.ttlMs) this.load(tenantId).catch(() => undefined);
    return e?.limits.weight ?? this.o.defaults.weight;
  }

  /** The tenant was created or changed through this coordinator. */
  changed(record: TenantRecord): void {
    this.entries.set(record.id, { limits: limitsOf(record, this.o.defaults), atMs: this.now() });
  }

  private load(tenantId: string): Promise<TenantLimits> {
    let p = this.loading.get(tenantId);
    if (p === undefined) {
      // An admin's jobs ('') share as a tenant with the default weight; there is no record to read.
      p = (tenantId === '' ? Promise.resolve(undefined) : this.o.lookup(tenantId)).then((record) => {
        const limits = limitsOf(record, this.o.defaults);
        this.entries.set(tenantId, { limits, atMs: this.now() });
        return limits;
      }).finally(() => this.loading.delete(tenantId));
      this.loading.set(tenantId, p);
    }
    return p;
  }
}
