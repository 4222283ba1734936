// What both stores share of listing and expiry: which jobs a filter takes,
// the listing order (newest first: creation time, then id) and which jobs
// count as finished. Pure, so the two stores cannot drift apart.
import { JobState } from '@latentfarm/proto';
import type { JobCursor, JobFilter, JobRecord } from './store.js';

/** Jobs in these states are finished: only they ever expire. */
export const FINISHED_STATES: readonly JobState[] = [JobState.SUCCEEDED, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED];

export const isFinishedState = (state: JobState): boolean => FINISHED_STATES.includes(state);

/** When a finished job finished; a record that lacks the time (written before it was kept) counts from its creation. */
export const finishedAt = (job: JobRecord): number => (job.finishedUnixMs > 0 ? job.finishedUnixMs : job.createdUnixMs);

export function matchesFilter(job: JobRecord, f: JobFilter): boolean {
  if (f.owner !== undefined && (job.owner ?? '') !== f.owner) return false;
  if (f.states.length > 0 && !f.states.includes(job.state)) return false;
  if (job.createdUnixMs < f.createdAfterMs) return false;
  const labels = job.spec.labels;
  for (const [k, v] of Object.entries(f.labels)) if (labels[k] !== v) return false;
  return true;
}

/** Whether `job` comes after `cursor` in the newest-first order (undefined: the start, before every job). */
export function comesAfter(job: Pick<JobRecord, 'createdUnixMs' | 'id'>, cursor: JobCursor | undefined): boolean {
  if (cursor === undefined) return true;
  return job.createdUnixMs < cursor.createdUnixMs || (job.createdUnixMs === cursor.createdUnixMs && job.id < cursor.id);
}

/** How the Farm scopes an idempotency key per owner (tenant ids hold no ':'); the stores find a job's key by it. */
export function scopedIdempotencyKey(owner: string, key: string): string {
  return owner === '' ? `admin:${key}` : `tenant:${owner}:${key}`;
}
