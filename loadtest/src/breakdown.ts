// Where a farm's slot-time went during one job, from each worker's own
// metrics read just before the submit and just after the job finished. Every
// slot (a worker's place in its batch) is accounted for over the job's span
// (created → finished): it rendered, or it sat in an unfilled batch, or its
// step overran the nominal step time, or the device waited between steps, sat
// idle before its last step (ramp-up, waiting for leases), or after it (tail).
import type { Series } from './prom-text.js';
import type { Workload } from './workload.js';

/** One worker's metrics and when they were read (Unix ms on this machine). */
export interface WorkerSnapshot { at: number; series: Series }

/** The job's span, as the coordinator recorded it (Unix ms). */
export interface Span { created: number; finished: number }

/** Each share is a fraction of the slot-time the farm had over the job's span; they add up to 1. */
export interface Breakdown {
  /** Slot-time spent on the images' own steps at the nominal step time: the efficiency by slot accounting. */
  rendering: number;
  /** Slots empty in a batched step (no leased image waiting at the step boundary, or the tail's last partial batches). */
  emptySlots: number;
  /** Steps that took longer than the nominal step time (timer slack, a busy event loop). */
  stepOverrun: number;
  /** The device waiting between two steps while it had images (bookkeeping, PNG encoding, the event loop). */
  stepGaps: number;
  /** The device idle from the job's creation until the first image was in (ramp-up: submit, first leases). */
  rampUp: number;
  /** The device idle after the first image and before its last step: starved of leases mid-job. */
  starved: number;
  /** The device idle after its last step until the job finished (tail imbalance, last commit, finishing). */
  idleAfterLastStep: number;
  /** What the metrics do not account for (should be near 0). */
  unaccounted: number;
  /** Images per batched step ÷ max batch. */
  meanBatchFill: number;
  /** Mean batched step time, ms. */
  meanStepMs: number;
  /** Seconds spent PNG-encoding results, all workers together. */
  encodeSeconds: number;
  /** From the first worker's last step to the last worker's last step, seconds. */
  lastStepSpreadSeconds: number;
  /** From the last step anywhere to the job's finish, seconds (result, commit, finishing). */
  finishLagSeconds: number;
}

const sum = (s: Series, name: string, labels: Record<string, string> = {}): number =>
  s.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);

/**
 * `before` is read before the submit, `firstImage` once the watcher has the
 * first image, `after` once the job has finished; the devices are idle before
 * the job and after it.
 */
export function measureBreakdown(w: Workload, span: Span, before: readonly WorkerSnapshot[], firstImage: readonly WorkerSnapshot[], after: readonly WorkerSnapshot[]): Breakdown {
  const spanS = (span.finished - span.created) / 1000;
  const step = w.stepMs / 1000;
  const B = w.maxBatch;
  const t = { rendering: 0, emptySlots: 0, stepOverrun: 0, stepGaps: 0, rampUp: 0, starved: 0, idleAfterLastStep: 0 };
  let calls = 0;
  let busy = 0;
  let imageSteps = 0;
  let encodeSeconds = 0;
  const lastSteps: number[] = [];
  after.forEach((a, i) => {
    const b = before[i] ?? { at: a.at, series: [] };
    const m = firstImage[i] ?? a;
    const d = (name: string, labels: Record<string, string> = {}, from = b, to = a) => sum(to.series, name, labels) - sum(from.series, name, labels);
    const wCalls = d('latentfarm_unet_call_seconds_count');
    const wImageSteps = d('latentfarm_worker_steps_total');
    const wBusy = d('latentfarm_unet_call_seconds_sum');
    const lastStep = sum(a.series, 'latentfarm_worker_last_step_timestamp_seconds') * 1000;
    const idleAfter = wCalls > 0 ? Math.max(0, (span.finished - lastStep) / 1000) : spanS;
    const idleOutsideJob = (span.created - b.at + a.at - span.finished) / 1000;
    const ramp = d('latentfarm_worker_idle_seconds_total', {}, b, m) - (span.created - b.at) / 1000;
    t.rendering += wImageSteps * step;
    t.emptySlots += (wCalls * B - wImageSteps) * step;
    t.stepOverrun += (wBusy - wCalls * step) * B;
    t.stepGaps += d('latentfarm_worker_step_gap_seconds_total') * B;
    t.rampUp += ramp * B;
    t.starved += (d('latentfarm_worker_idle_seconds_total') - idleOutsideJob - idleAfter - ramp) * B;
    t.idleAfterLastStep += idleAfter * B;
    calls += wCalls;
    busy += wBusy;
    imageSteps += wImageSteps;
    encodeSeconds += d('latentfarm_stage_seconds_sum', { stage: 'encode' });
    if (wCalls > 0) lastSteps.push(lastStep);
  });
  const capacity = spanS * w.workers * B;
  const share = (x: number) => (capacity > 0 ? x / capacity : 0);
  const accounted = Object.values(t).reduce((x, y) => x + y, 0);
  return {
    rendering: share(t.rendering), emptySlots: share(t.emptySlots), stepOverrun: share(t.stepOverrun), stepGaps: share(t.stepGaps),
    rampUp: share(t.rampUp), starved: share(t.starved), idleAfterLastStep: share(t.idleAfterLastStep), unaccounted: share(capacity - accounted),
    meanBatchFill: calls > 0 ? imageSteps / (calls * B) : 0,
    meanStepMs: calls > 0 ? (busy / calls) * 1000 : 0,
    encodeSeconds,
    lastStepSpreadSeconds: lastSteps.length > 0 ? (Math.max(...lastSteps) - Math.min(...lastSteps)) / 1000 : 0,
    finishLagSeconds: lastSteps.length > 0 ? (span.finished - Math.max(...lastSteps)) / 1000 : 0,
  };
}
