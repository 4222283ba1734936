// The autoscaling report's chart, dependency-free SVG: left, the chosen
// settings over the measured day (arrivals, ready workers, queued images);
// right, every setting's GPU-hours against its p95 queue wait.
import type { SimResult } from './autoscale-sim.js';

const esc = (s: string): string => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] ?? c);

export function renderAutoscaleChart(title: string, chosen: SimResult, all: readonly SimResult[], label: (r: SimResult) => string): string {
  const W = 1100;
  const H = 380;
  const pad = 50;
  const pw = 520; // panel width
  // Left panel: the day.
  const tl = chosen.timeline;
  const aMax = Math.max(1, ...tl.map((p) => p.arrivalsPerS));
  const wMax = Math.max(1, ...tl.map((p) => p.nodes));
  const qMax = Math.max(1, ...tl.map((p) => p.queued));
  const x = (m: number) => pad + ((pw - pad - 10) * m) / 1440;
  const y = (v: number, max: number) => H - pad - ((H - 2 * pad) * v) / max;
  const line = (vals: number[], max: number) => tl.map((p, i) => `${x(p.minute).toFixed(1)},${y(vals[i] ?? 0, max).toFixed(1)}`).join(' ');
  // Right panel: GPU-hours vs p95 wait (log scale of wait + 1 s).
  const x0 = pw + pad + 20;
  const gMin = Math.min(...all.map((r) => r.gpuHours));
  const gMax = Math.max(...all.map((r) => r.gpuHours));
  const lw = (s: number) => Math.log10(1 + s);
  const wMaxR = Math.max(1, ...all.map((r) => lw(r.waitP95S)));
  const rx = (g: number) => x0 + ((W - x0 - 20) * (g - gMin)) / Math.max(1e-9, gMax - gMin);
  const ry = (w: number) => H - pad - ((H - 2 * pad) * lw(w)) / wMaxR;
  const dots = all.map((r) => {
    const me = r === chosen;
    return `<circle cx="${rx(r.gpuHours).toFixed(1)}" cy="${ry(r.waitP95S).toFixed(1)}" r="${me ? 6 : 3.5}" fill="${me ? '#d62728' : r.settings.query === 'demand' ? '#1f77b4' : '#ff7f0e'}"><title>${esc(label(r))}</title></circle>`;
  }).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${pad}" y="20" font-size="14">${esc(title)}</text>
<text x="${pad}" y="38">chosen: ${esc(label(chosen))}</text>
<line x1="${pad}" y1="${H - pad}" x2="${pw - 10}" y2="${H - pad}" stroke="#888"/>
<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${H - pad}" stroke="#888"/>
<text x="${(pad + pw) / 2}" y="${H - 14}" text-anchor="middle">hour of the measured day (0–24)</text>
<text x="${pad}" y="${pad - 2}" fill="#2ca02c">arrivals/s (max ${aMax.toFixed(0)})</text>
<text x="${pad + 150}" y="${pad - 2}" fill="#1f77b4">GPU nodes, solid: ready workers (max ${wMax})</text>
<text x="${pw - 10}" y="${H - pad + 30}" text-anchor="end" fill="#d62728">queued (max ${qMax.toFixed(0)})</text>
<polyline fill="none" stroke="#2ca02c" stroke-width="1" points="${line(tl.map((p) => p.arrivalsPerS), aMax)}"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="1" stroke-dasharray="3 2" points="${line(tl.map((p) => p.nodes), wMax)}"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="${line(tl.map((p) => p.workers), wMax)}"/>
<polyline fill="none" stroke="#d62728" stroke-width="1" points="${line(tl.map((p) => p.queued), qMax)}"/>
<line x1="${x0}" y1="${H - pad}" x2="${W - 20}" y2="${H - pad}" stroke="#888"/>
<line x1="${x0}" y1="${pad}" x2="${x0}" y2="${H - pad}" stroke="#888"/>
<text x="${(x0 + W) / 2}" y="${H - 14}" text-anchor="middle">GPU-hours per day (${gMin.toFixed(0)}–${gMax.toFixed(0)})</text>
<text x="${x0}" y="${pad - 2}">diurnal p95 queue wait, s (log; max ${Math.max(...all.map((r) => r.waitP95S)).toFixed(0)})</text>
<text x="${W - 20}" y="${pad + 14}" text-anchor="end"><tspan fill="#ff7f0e">● queued query</tspan> <tspan fill="#1f77b4">● demand query</tspan> <tspan fill="#d62728">● chosen</tspan></text>
${dots}
</svg>
`;
}
