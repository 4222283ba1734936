// Just enough of the Prometheus text format to read a histogram back.

export type Series = { name: string; labels: Record<string, string>; value: number }[];

export async function scrape(url: string): Promise<Series> {
  return (await scrapeAt(url)).series;
}

/**
 * A scrape and when it was taken (Unix ms): midway between asking and the answer's arrival, off by at most half the
 * round trip. Stamped after the answer had been parsed instead, 16 scrapes at once on a busy machine came out
 * 60-150 ms late, which the farm benchmark's breakdown counted as ramp-up.
 */
export async function scrapeAt(url: string): Promise<{ at: number; series: Series }> {
  const asked = Date.now();
  const res = await fetch(url);
  const at = (asked + Date.now()) / 2;
  return { at, series: parse(await res.text()) };
}

export function parse(text: string): Series {
  const out: Series = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[4]) });
  }
  return out;
}

/** What counters and histograms gained between two scrapes (series matched by name and labels). */
export function since(after: Series, before: Series): Series {
  const key = (s: Series[number]) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
  const was = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (was.get(key(s)) ?? 0) }));
}

/** The q-quantile of a histogram summed over its label sets, interpolated within buckets as Prometheus does. */
export function histogramQuantile(series: Series, name: string, q: number): number {
  const buckets = new Map<number, number>();
  for (const s of series) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Observations of a histogram, summed over its label sets. */
export function histogramCount(series: Series, name: string): number {
  let n = 0;
  for (const s of series) if (s.name === `${name}_count`) n += s.value;
  return n;
}
