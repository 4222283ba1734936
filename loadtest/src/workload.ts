// The farm efficiency workload: what runs, and the farm's ideal rate on it.

export interface Workload {
  workers: number;
  maxBatch: number;
  steps: number;
  /** Sim step time, ms, whatever the batch size (0 ms per image). */
  stepMs: number;
  images: number;
  size: number;
}

/** The workload of issue 11, point 5. */
export const ISSUE_WORKLOAD: Workload = { workers: 16, maxBatch: 8, steps: 25, stepMs: 20, images: 4000, size: 64 };

/** Every slot of every worker busy: workers × max batch ÷ one image's steps. */
export const idealImagesPerSecond = (w: Workload): number => (w.workers * w.maxBatch) / ((w.steps * w.stepMs) / 1000);

/**
 * The tail bound: steps run only at step boundaries and take the same time
 * whatever the batch, so the slots that get ⌈images ÷ slots⌉ images set the
 * finish, and no farm beats (images ÷ slots) ÷ ⌈images ÷ slots⌉ here.
 */
export function tailBound(w: Workload): number {
  const perSlot = w.images / (w.workers * w.maxBatch);
  return perSlot / Math.ceil(perSlot);
}
