// The worker's Prometheus metrics. Every one is documented in the README.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchObserver } from './batching/continuous-batcher.js';

export function workerMetrics(registry: Registry) {
  const registers = [registry];
  // The device starts idle; an open idle stretch is counted up to each scrape, so the counter is right at any moment.
  let idleSince: number | undefined = performance.now();
  const countIdle = (counter: Counter): void => {
    if (idleSince === undefined) return;
    const now = performance.now();
    counter.inc((now - idleSince) / 1000);
    idleSince = now;
  };
  const idleSeconds: Counter = new Counter({
    name: 'latentfarm_worker_idle_seconds_total', help: 'Seconds the device had no image to step (waiting for leases, or no work)', registers,
    collect() { countIdle(idleSeconds); },
  });
  return {
    idleSeconds,
    /** The batcher's idle transitions, into latentfarm_worker_idle_seconds_total. */
    deviceIdle(idle: boolean): void {
      if (idle) idleSince ??= performance.now();
      else {
        countIdle(idleSeconds);
        idleSince = undefined;
      }
    },
    stepGapSeconds: new Counter({
      name: 'latentfarm_worker_step_gap_seconds_total', registers,
      help: 'Seconds between one batched step and the next while images were in hand (host work: bookkeeping, encoding, event-loop delay)',
    }),
    lastStep: new Gauge({ name: 'latentfarm_worker_last_step_timestamp_seconds', help: 'Unix time the latest batched step ended', registers }),
    imagesRendered: new Counter({ name: 'latentfarm_worker_images_total', help: 'Images this worker rendered', labelNames: ['model'], registers }),
    imagesFailed: new Counter({ name: 'latentfarm_worker_failures_total', help: 'Renders that failed', labelNames: ['model', 'retryable'], registers }),
    stepSeconds: new Histogram({
      name: 'latentfarm_unet_call_seconds', help: 'One batched denoising step (UNet call)', labelNames: ['group'],
      buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], registers,
    }),
    batchSize: new Histogram({
      name: 'latentfarm_batch_size', help: 'Images in one batched step', buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers,
    }),
    batchFill: new Histogram({
      name: 'latentfarm_batch_fill_ratio', help: 'Images in one batched step ÷ max batch', buckets: [0.125, 0.25, 0.5, 0.75, 0.9, 1], registers,
    }),
    stageSeconds: new Histogram({
      name: 'latentfarm_stage_seconds', help: 'Seconds per image and stage', labelNames: ['stage'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60], registers,
    }),
    busyRatio: new Gauge({ name: 'latentfarm_worker_busy_ratio', help: 'Share of the last heartbeat interval spent computing', registers }),
    tasksHeld: new Gauge({ name: 'latentfarm_worker_tasks_held', help: 'Leased tasks this worker holds', registers }),
    connected: new Gauge({ name: 'latentfarm_worker_connected', help: '1 while the Connect stream is up', registers }),
    reconnects: new Counter({ name: 'latentfarm_worker_reconnects_total', help: 'Connect streams opened after the first', registers }),
    steps: new Counter({ name: 'latentfarm_worker_steps_total', help: 'Image denoising steps done (steps per second = rate)', registers }),
  };
}

export type WorkerMetrics = ReturnType<typeof workerMetrics>;

/**
 * The batcher's observer, recording into the metrics. A step's metrics are recorded once the next step is under way
 * (setImmediate runs after it): the batcher reports a step between its end and the next launch, where a device waits
 * on the host, and prom-client's observe calls took about 50 µs a step there on a loaded host (measured: the gaps
 * between steps of `npm run bench:farm -- --topology serve` fell from 0.5–0.6 % of the farm's time to 0.4 %).
 * Times are read when the batcher reports, so a metric says when a step ended, not when it was recorded.
 */
export function batchMetrics(metrics: WorkerMetrics, maxBatch: number): BatchObserver {
  return {
    onStep: (group, n, seconds) => {
      const endedUnix = Date.now() / 1000;
      setImmediate(() => {
        metrics.stepSeconds.observe({ group }, seconds);
        metrics.batchSize.observe(n);
        metrics.batchFill.observe(n / maxBatch);
        metrics.steps.inc(n);
        metrics.lastStep.set(endedUnix);
      });
    },
    onGap: (seconds) => setImmediate(() => metrics.stepGapSeconds.inc(seconds)),
    // Idle time is measured from this moment, so it is recorded now (it changes only when a batch starts or ends).
    onIdle: (idle) => metrics.deviceIdle(idle),
  };
}
