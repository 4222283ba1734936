// A dependency-free SVG chart of a load-test run: completion rate and queue
// depth over time.

interface Point { t: number; completed: number; queued: number }

export function renderChart(title: string, samples: readonly Point[]): string {
  const W = 720;
  const H = 320;
  const pad = 48;
  const rates = samples.map((s, i) => {
    const prev = samples[i - 1];
    return prev === undefined ? 0 : (s.completed - prev.completed) / Math.max(1e-9, s.t - prev.t);
  });
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const rMax = Math.max(1, ...rates);
  const qMax = Math.max(1, ...samples.map((s) => s.queued));
  const x = (t: number) => pad + ((W - 2 * pad) * t) / tMax;
  const y = (v: number, max: number) => H - pad - ((H - 2 * pad) * v) / max;
  const line = (vals: number[], max: number) => samples.map((s, i) => `${x(s.t).toFixed(1)},${y(vals[i] ?? 0, max).toFixed(1)}`).join(' ');
  const esc = (s: string) => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] ?? c);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${pad}" y="20" font-size="14">${esc(title)}</text>
<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#888"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#888"/>
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">seconds (0–${tMax.toFixed(0)})</text>
<text x="8" y="${pad - 8}" fill="#1f77b4">images/s (max ${rMax.toFixed(0)})</text>
<text x="${W - pad}" y="${pad - 8}" text-anchor="end" fill="#d62728">queued (max ${qMax.toFixed(0)})</text>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line(rates, rMax)}"/>
<polyline fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3" points="${line(samples.map((s) => s.queued), qMax)}"/>
</svg>
`;
}
