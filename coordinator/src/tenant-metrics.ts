// Per-tenant metrics: images by outcome, images queued, credits spent and
// submits refused, each labelled by tenant through TenantLabels (bounded: at
// most --max-tenant-labels tenants of their own, the rest "other"). The farm
// calls these with job owners; the label policy lives in one place.
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorKind } from '@latentfarm/common';
import { TenantLabels } from './tenant-labels.js';

export class TenantMetrics {
  private readonly labels: TenantLabels;
  private readonly images: Counter<'tenant' | 'outcome'>;
  private readonly submittedImages: Counter<'tenant'>;
  private readonly credits: Counter<'tenant'>;
  private readonly refusals: Counter<'tenant' | 'reason'>;
  private readonly queued: Gauge<'tenant'>;

  constructor(registry: Registry, maxTenantLabels: number) {
    const registers = [registry];
    this.labels = new TenantLabels(maxTenantLabels);
    this.images = new Counter({
      name: 'latentfarm_tenant_images_total', help: 'Images of a tenant\'s jobs that ended, by outcome (completed, failed, cancelled)', labelNames: ['tenant', 'outcome'], registers,
    });
    this.submittedImages = new Counter({ name: 'latentfarm_tenant_images_submitted_total', help: 'Images in a tenant\'s accepted jobs', labelNames: ['tenant'], registers });
    this.credits = new Counter({ name: 'latentfarm_tenant_credits_spent_total', help: 'Credits of a tenant\'s rendered images', labelNames: ['tenant'], registers });
    this.refusals = new Counter({ name: 'latentfarm_tenant_submits_refused_total', help: 'Submits of a tenant refused, by reason', labelNames: ['tenant', 'reason'], registers });
    this.queued = new Gauge({ name: 'latentfarm_tenant_queued_images', help: 'Images of a tenant waiting for a worker', labelNames: ['tenant'], registers });
  }

  submitted(owner: string, images: number): void {
    this.submittedImages.inc({ tenant: this.labels.of(owner) }, images);
  }

  /**
   * A committed image and what it costs. Today that is the cost model's price
   * of the image (what `latentfarm_credits_spent_total` counts); once the
   * credits ledger settles images, it is the settled amount.
   */
  completed(owner: string, credits: number): void {
    const tenant = this.labels.of(owner);
    this.images.inc({ tenant, outcome: 'completed' });
    this.credits.inc({ tenant }, credits);
  }

  failed(owner: string): void {
    this.images.inc({ tenant: this.labels.of(owner), outcome: 'failed' });
  }

  cancelled(owner: string, images: number): void {
    if (images > 0) this.images.inc({ tenant: this.labels.of(owner), outcome: 'cancelled' }, images);
  }

  /** `reason`: the error's kind (`invalid_argument`, `not_found`, `resource_exhausted`, …), a small fixed set. */
  refused(owner: string, err: unknown): void {
    this.refusals.inc({ tenant: this.labels.of(owner), reason: errorKind(err) });
  }

  /** Images waiting per job owner, now; owners that share a label ("other") are summed; every tenant seen before shows 0 when it has none. */
  setQueued(byOwner: ReadonlyMap<string, number>): void {
    const byLabel = new Map<string, number>();
    for (const [owner, n] of byOwner) {
      const tenant = this.labels.of(owner);
      byLabel.set(tenant, (byLabel.get(tenant) ?? 0) + n);
    }
    for (const tenant of this.labels.labels()) this.queued.set({ tenant }, byLabel.get(tenant) ?? 0);
  }
}
