// How numbers, times and states read on the pages.
import type { ImageCountsView, JobStateName } from './api-types.js';

export const FINISHED: ReadonlySet<JobStateName> = new Set(['SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED']);

export const credits = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3));

/** Credits as the ledger keeps them (to the micro-credit, trailing zeros dropped): a balance must not round up. */
export const exactCredits = (n: number): string => String(Number(n.toFixed(6)));

export function duration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '—';
  if (s < 60) return `${Math.ceil(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export const time = (unixMs: number): string => (unixMs > 0 ? new Date(unixMs).toLocaleString() : '—');

export const ago = (unixMs: number, now = Date.now()): string => (unixMs > 0 ? `${duration(Math.max(0, (now - unixMs) / 1000))} ago` : '—');

export const done = (c: ImageCountsView): number => c.succeeded + c.failed + c.cancelled;
