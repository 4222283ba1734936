// The coordinator's Prometheus metrics. Every one is documented in the README.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DEFAULT_MAX_TENANT_LABELS } from './tenant-labels.js';
import { TenantMetrics } from './tenant-metrics.js';

export function coordinatorMetrics(registry: Registry, o: { maxTenantLabels?: number } = {}) {
  const registers = [registry];
  return {
    /** Per tenant, with a bounded number of tenant labels (tenant-labels.ts). */
    tenants: new TenantMetrics(registry, o.maxTenantLabels ?? DEFAULT_MAX_TENANT_LABELS),
    jobsSubmitted: new Counter({ name: 'latentfarm_jobs_submitted_total', help: 'Jobs accepted', registers }),
    imagesSubmitted: new Counter({ name: 'latentfarm_images_submitted_total', help: 'Images in accepted jobs', labelNames: ['model'], registers }),
    imagesCompleted: new Counter({ name: 'latentfarm_images_completed_total', help: 'Images rendered and committed', labelNames: ['model'], registers }),
    imagesFailed: new Counter({ name: 'latentfarm_images_failed_total', help: 'Images that failed for good', labelNames: ['model', 'reason'], registers }),
    imagesCancelled: new Counter({ name: 'latentfarm_images_cancelled_total', help: 'Images cancelled before they were rendered', registers }),
    tasksQueued: new Gauge({ name: 'latentfarm_tasks_queued', help: 'Images waiting for a worker', labelNames: ['model'], registers }),
    tasksLeased: new Gauge({ name: 'latentfarm_tasks_leased', help: 'Images leased to workers', registers }),
    requeues: new Counter({ name: 'latentfarm_requeues_total', help: 'Leases handed back to the queue', labelNames: ['reason'], registers }),
    resultsDropped: new Counter({ name: 'latentfarm_results_dropped_total', help: 'Late or duplicate results dropped (stale lease epoch)', registers }),
    workersConnected: new Gauge({ name: 'latentfarm_workers_connected', help: 'Workers holding a Connect stream', registers }),
    activeJobs: new Gauge({ name: 'latentfarm_jobs_active', help: 'Jobs not yet finished', registers }),
    creditsSpent: new Counter({ name: 'latentfarm_credits_spent_total', help: 'Credits of rendered images', labelNames: ['model'], registers }),
    imageLatency: new Histogram({
      name: 'latentfarm_image_latency_seconds',
      help: 'Submit to committed result, per image',
      labelNames: ['model'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    }),
    queueWait: new Histogram({
      name: 'latentfarm_queue_wait_seconds',
      help: 'Submit (or requeue) to lease, per image',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
      registers,
    }),
  };
}

export type CoordinatorMetrics = ReturnType<typeof coordinatorMetrics>;
