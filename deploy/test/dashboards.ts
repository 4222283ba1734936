// Reads the Grafana dashboards in deploy/grafana/dashboards and turns their
// panel queries into plain PromQL a Prometheus can answer.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

interface Target { refId?: string; expr?: string; datasource?: { uid?: string } }
interface Panel { id?: number; type?: string; title?: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] }
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list?: { name: string; query?: unknown; definition?: string; datasource?: { uid?: string } }[] };
}

export async function loadDashboards(dir: string): Promise<{ file: string; dashboard: Dashboard }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(files.map(async (file) => ({ file, dashboard: JSON.parse(await readFile(join(dir, file), 'utf8')) as Dashboard })));
}

/** Every panel, rows' nested panels included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

export function panelQueries(d: Dashboard): PanelQuery[] {
  return allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({
    dashboard: d.title, panel: p.title ?? `#${p.id ?? '?'}`, refId: t.refId ?? '?', expr: t.expr ?? '',
  })));
}

/**
 * Replaces Grafana's variables (`$name`, `${name}`, `[[name]]`) with values.
 * Longest names first, so `$__rate_interval` is not read as `$__rate`.
 */
export function expandVariables(expr: string, values: Record<string, string>): string {
  let out = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    const v = values[name] ?? '';
    out = out.split(`\${${name}}`).join(v).split(`[[${name}]]`).join(v).split(`$${name}`).join(v);
  }
  return out;
}
