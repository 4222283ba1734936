// `latentfarm list` filters as a user types them: --since 2h (that long ago)
// or --since 2026-11-30T10:00Z (a time), --label k=v[,k2=v2]. Bad input is
// one line and exit 2, before anything is sent.
import { InvalidArgumentError, parseDuration } from '@latentfarm/common';

/** An ISO 8601 date, optionally with a time; without a zone it is the local time, as Date reads it. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** ms since 1970 of --since; 0 for ''. */
export function parseSince(raw: string, now = Date.now()): number {
  if (raw === '') return 0;
  const ago = parseDuration(raw);
  if (ago !== undefined && ago > 0) return Math.max(1, now - ago);
  const t = ISO_TIME.test(raw.trim()) ? Date.parse(raw.trim()) : Number.NaN;
  if (!Number.isFinite(t) || t <= 0) {
    throw new InvalidArgumentError('--since', `"${raw.slice(0, 40)}" is neither a duration ago (90m, 2h, 7d) nor a time (2026-11-30T10:00Z)`);
  }
  if (t > now) throw new InvalidArgumentError('--since', `${new Date(t).toISOString()} is in the future`);
  return t;
}

/** The labels of --label k=v,k2=v2: every one must match. */
export function parseLabels(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError('--label', `"${item.slice(0, 40)}" is not key=value`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
