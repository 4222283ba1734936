import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Exponential backoff with full jitter, capped. attempt starts at 0. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like 90s, 15m, 12h or 30d (or 0) in ms; undefined when `raw` is not one. */
export function parseDuration(raw: string): number | undefined {
  const s = raw.trim();
  if (s === '0') return 0;
  const m = DURATION.exec(s);
  if (m === null) return undefined;
  const ms = Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] ?? 0));
  return Number.isSafeInteger(ms) ? ms : undefined;
}
