// The dashboards and alerts against real data: a live farm (coordinator and
// sim workers as processes on loopback) scraped every second by a real
// Prometheus that loads deploy/prometheus/alerts.yaml. Every dashboard query
// must return data and every alert expression must evaluate cleanly.
// Needs `prometheus` and `promtool` on the PATH (Debian package `prometheus`;
// .ci/run installs it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  eventually, onPath, repoRoot, runCli, runProgram, spawnCli, spawnCoordinator, spawnSimWorker, startPrometheus, tempDir,
  type Proc, type Prometheus, type PromQueryData,
} from '@latentfarm/testkit';
import { allPanels, expandVariables, loadDashboards, panelQueries } from './dashboards.js';

const deployDir = join(repoRoot, 'deploy');
const alertsFile = join(deployDir, 'prometheus/alerts.yaml');
const dashboardsDir = join(deployDir, 'grafana/dashboards');

// Grafana's built-in variables, at values that fit a 1 s scrape interval.
const grafanaVariables = { __rate_interval: '15s', __interval: '5s', __range: '1m', instance: '.*' };

function requireTools(): void {
  const missing = ['prometheus', 'promtool'].filter((p) => !onPath(p));
  if (missing.length > 0) {
    throw new Error(`${missing.join(' and ')} not on the PATH: apt-get install prometheus (.ci/run does)`);
  }
}

const samples = (d: PromQueryData): number[] => {
  if (d.resultType === 'vector') return d.result.map((s) => Number(s.value[1]));
  if (d.resultType === 'scalar') return [Number(d.result[1])];
  return [];
};

/** The single value of a one-element vector, or undefined when the vector is empty. */
async function scalar(prom: Prometheus, expr: string, time?: number): Promise<number | undefined> {
  const v = samples(await prom.query(expr, time));
  return v.length === 1 ? v[0] : undefined;
}

describe('alert rules (promtool)', () => {
  beforeAll(requireTools);

  it('pass promtool check and their unit tests, and the example config is valid', async () => {
    const check = await runProgram('promtool', ['check', 'rules', alertsFile]);
    expect(check.code, check.output).toBe(0);
    expect(check.output).toMatch(/SUCCESS: 5 rules found/);
    // Each alert fires on synthetic series that should page and stays quiet otherwise.
    const unit = await runProgram('promtool', ['test', 'rules', 'alerts.test.yaml'], join(deployDir, 'prometheus'));
    expect(unit.code, unit.output).toBe(0);
    const config = await runProgram('promtool', ['check', 'config', join(deployDir, 'prometheus/prometheus.yml')]);
    expect(config.code, config.output).toBe(0);
  });
});

describe('dashboards and alerts on a live farm', () => {
  const procs: Proc[] = [];
  let prom: Prometheus | undefined;
  let dir: { path: string; remove(): Promise<void> } | undefined;

  beforeAll(requireTools);

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited()));
    await prom?.stop();
    await dir?.remove();
  });

  it('answers every panel query with data and evaluates every alert rule', async () => {
    dir = await tempDir();
    // Every process binds port 0 and logs the port it got; Prometheus finds the workers in a file (file_sd) that
    // lists each one once its port is known.
    const coord = await spawnCoordinator(['--data-dir', join(dir.path, 'data'), '--heartbeat-ms', '200', '--lease-ttl-ms', '3000'], { metrics: true });
    procs.push(coord);
    const coordinator = coord.address;
    const coordTarget = `127.0.0.1:${coord.metricsPort ?? 0}`;
    // Sim workers; prompts containing BAD fail on every one of them. A 300 ms
    // step makes a 200-image job last long enough (~15 s) to watch it run.
    const spawnWorker = (i: number) => spawnSimWorker(coordinator, {
      id: `w${i}`, metrics: true, maxBatch: 8, stepBaseMs: 300, stepPerImageMs: 1, extra: ['--sim-fail-marker', 'BAD'],
    });
    const workers = [spawnWorker(0), spawnWorker(1)];
    procs.push(...workers);
    const workersFile = join(dir.path, 'workers.json');
    const listWorkers = async (targets: string[]) => {
      // Whole or not at all: Prometheus re-reads the file when it changes.
      await writeFile(`${workersFile}.tmp`, JSON.stringify([{ targets }]));
      await rename(`${workersFile}.tmp`, workersFile);
    };
    await listWorkers([]);
    // Prometheus boots while the workers do.
    const [started, workerTargets] = await Promise.all([
      startPrometheus([
        'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(alertsFile)}]`,
        'scrape_configs:',
        `  - { job_name: latentfarm-coordinator, static_configs: [ { targets: [${JSON.stringify(coordTarget)}] } ] }`,
        `  - { job_name: latentfarm-worker, file_sd_configs: [ { files: [${JSON.stringify(workersFile)}] } ] }`,
        '',
      ].join('\n')),
      Promise.all(workers.map(async (w) => `127.0.0.1:${await w.metricsPort()}`)),
    ]);
    prom = started;
    await listWorkers(workerTargets);
    const p = prom;
    const farmOutput = () => [coord, ...workers].map((w) => w.output()).join('\n') + p.output();

    /** Waits until Prometheus scrapes `up` targets and the coordinator reports `connected` workers. */
    const scraped = async (up: number, connected: number) => {
      let seen = '';
      await eventually(async () => {
        const u = await scalar(p, 'count(up == 1)');
        const c = await scalar(p, 'sum(latentfarm_workers_connected)');
        seen = `up targets ${u}, workers connected ${c}`;
        return u === up && c === connected;
      }, 40_000, `prometheus to scrape ${up} targets and ${connected} connected workers`).catch(async (err: unknown) => {
        const targets = await p.api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('targets').catch(() => undefined);
        throw new Error(`${String(err)} (${seen})\n${JSON.stringify(targets?.activeTargets)}\n${farmOutput()}`);
      });
    };
    await scraped(3, 2);

    // Failures and failure requeues: every image of this job fails --max-attempts (3) times.
    const bad = await runCli(['submit', '--coordinator', coordinator, '--prompt', 'a BAD prompt', '--images', '3', '--steps', '2',
      '--width', '64', '--height', '64', '--seed', '1', '--watch', '--out', join(dir.path, 'bad')]);
    expect(bad.output, bad.output).toMatch(/FAILED/);

    // A third worker, started after the failures so that the workers that
    // rendered them survive; this one is killed mid-job.
    const victim = spawnWorker(2);
    workers.push(victim);
    procs.push(victim);
    workerTargets.push(`127.0.0.1:${await victim.metricsPort()}`);
    await listWorkers(workerTargets);
    await scraped(4, 3);

    // The main job; a worker is SIGKILLed while it holds leases, so they are requeued. It is far too big to end
    // before Prometheus has seen it run (at least 2000 / (3 × 8) batches × 5 steps × 300 ms), whatever the speed.
    const job = spawnCli(['submit', '--coordinator', coordinator, '--prompt', 'x', '--images', '2000', '--steps', '5',
      '--width', '64', '--height', '64', '--seed', '7', '--watch', '--out', join(dir.path, 'out')]);
    procs.push(job);
    const victimMetrics = `http://${workerTargets[2] ?? ''}/metrics`;
    await eventually(async () => {
      const text = await (await fetch(victimMetrics)).text();
      const held = Number(/^latentfarm_worker_tasks_held\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
      const steps = Number(/^latentfarm_worker_steps_total\{[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
      return held > 0 && steps > 0;
    }, 30_000, 'the third worker to hold tasks and run steps');
    victim.kill('SIGKILL');

    // Pick the evaluation time: a moment Prometheus saw the job mid-flight, with
    // images waiting, images completing and the killed worker's leases requeued.
    const at = await eventually(async () => {
      // (increase() needs two samples in its window, so rate panels have data too.)
      const d = await p.query('sum(latentfarm_tasks_queued) > 0'
        + ' and on () count(increase(latentfarm_worker_images_total[15s]) > 0) >= 2'
        + ' and on () sum(increase(latentfarm_images_completed_total[15s])) > 0'
        + ' and on () sum(latentfarm_requeues_total{reason!="failure"}) > 0');
      return d.resultType === 'vector' && d.result[0] !== undefined ? d.result[0].value[0] : undefined;
    }, 40_000, `prometheus to see the job running with a requeue\n${farmOutput()}`);

    // What follows reads Prometheus at that moment: the rest of the job is not needed.
    job.kill('SIGKILL');

    // Every panel query of both dashboards returns data at that moment.
    const dashboards = await loadDashboards(dashboardsDir);
    expect(dashboards.map((d) => d.file)).toEqual(['farm-overview.json', 'worker-detail.json']);
    const empty: string[] = [];
    let checked = 0;
    for (const { dashboard } of dashboards) {
      for (const panel of allPanels(dashboard).filter((x) => x.type !== 'row')) {
        expect(panel.datasource?.uid, `${dashboard.title} / ${panel.title ?? ''}`).toBe('prometheus');
        expect(panel.targets?.length ?? 0, `${dashboard.title} / ${panel.title ?? ''} has queries`).toBeGreaterThan(0);
      }
      for (const q of panelQueries(dashboard)) {
        const expr = expandVariables(q.expr, grafanaVariables);
        expect(expr, `${q.dashboard} / ${q.panel} ${q.refId}: unknown variable`).not.toMatch(/\$|\[\[/);
        const values = samples(await p.query(expr, at));
        checked++;
        // Non-empty, and not only NaN (a histogram quantile of nothing).
        if (!values.some((v) => Number.isFinite(v))) empty.push(`${q.dashboard} / ${q.panel} ${q.refId}: ${expr} → ${JSON.stringify(values)}`);
      }
    }
    expect(empty, 'panel queries without data').toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(40);

    // The worker variable lists the scraped workers.
    const worker = dashboards.find((d) => d.file === 'worker-detail.json')?.dashboard;
    const variable = worker?.templating?.list?.find((v) => v.name === 'instance');
    expect(variable?.definition).toBe('label_values(latentfarm_worker_connected, instance)');
    const instances = await p.api<string[]>('label/instance/values', { 'match[]': 'latentfarm_worker_connected', start: String(at - 60), end: String(at) });
    expect([...instances].sort()).toEqual([...workerTargets].sort());

    // Failures and requeues reached the panels that show them.
    expect(await scalar(p, 'sum(latentfarm_images_failed_total{reason="error"})', at)).toBe(3);
    expect(await scalar(p, 'sum(latentfarm_requeues_total{reason="failure"})', at)).toBe(6);

    // Every alert rule was loaded, evaluates without error, and none fires on a healthy farm.
    const rules = await eventually(async () => {
      const r = await p.rules();
      return r.length === 5 && r.every((x) => x.health === 'ok') ? r : undefined;
    }, 10_000, 'all 5 alert rules to evaluate cleanly');
    expect(rules.map((r) => r.name).sort()).toEqual(['LatentfarmCoordinatorDown', 'LatentfarmImageFailureRateHigh',
      'LatentfarmNoWorkers', 'LatentfarmQueueGrowing', 'LatentfarmWorkerStalled']);
    for (const r of rules) await p.query(r.query, at);   // throws unless Prometheus accepts it
    const alerts = await p.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('alerts');
    expect(alerts.alerts.filter((a) => a.state === 'firing')).toEqual([]);
    expect(alerts.alerts.filter((a) => a.labels['alertname'] === 'LatentfarmCoordinatorDown')).toEqual([]);

    // And the coordinator-down alert trips on the real scrape job once the coordinator dies.
    coord.kill('SIGKILL');
    await eventually(async () => {
      const a = await p.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('alerts');
      return a.alerts.some((x) => x.labels['alertname'] === 'LatentfarmCoordinatorDown' && x.labels['instance'] === coordTarget && x.state === 'pending');
    }, 15_000, 'LatentfarmCoordinatorDown to go pending');
    // Six process starts (each a few CPU-seconds of TypeScript loading) are most of this test: on a loaded
    // 2-core machine that alone can pass a minute. Each wait above is on an event, with its own bound.
  }, 180_000);
});
