// Usage: npm run sim:autoscale -- [options]
// Replays one seeded day against a range of KEDA settings and writes
// loadtest/results/autoscale.{txt,json,svg}. The settings shipped in
// deploy/kubernetes/overlays/production/keda-scaledobject.yaml are the row
// marked "chosen": the fewest GPU-hours whose diurnal p95 queue wait meets
// --slo-p95-s and that renders every burst within --slo-burst-min.
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { opt, parseScriptOptions } from '@latentfarm/common';
import { generateArrivals } from './autoscale-arrivals.js';
import { renderAutoscaleChart } from './autoscale-chart.js';
import { simulateDay, type FarmModel, type SimResult, type SimSettings } from './autoscale-sim.js';

const options = {
  imagesPerDay: opt.int('Images per day, bursts included', 1_700_000, { min: 1 }),
  peakToMean: opt.number('Diurnal peak over mean', 3, { min: 1, max: 6 }),
  bursts: opt.int('Bursts per day', 3, { min: 0, max: 50 }),
  burstImages: opt.int('Images per burst (one job)', 100_000, { min: 1 }),
  seed: opt.int('Seed of the arrivals', 1, { min: 0 }),
  imagesPerWorkerS: opt.number('Images per second one GPU worker renders (SD 1.5, 512x512, 25 steps, batch 8)', 2, { min: 0.01 }),
  nodeProvisionS: opt.int('Seconds to get a new GPU node', 180, { min: 0 }),
  modelLoadS: opt.int('Seconds from pod start to first lease on a ready node', 60, { min: 0 }),
  nodeIdleRemoveS: opt.int('Seconds an idle GPU node stays (cluster-autoscaler scale-down-unneeded-time)', 600, { min: 0 }),
  sloP95S: opt.number('Diurnal p95 queue wait the chosen settings must meet, seconds', 60, { min: 0 }),
  sloBurstMin: opt.number('Minutes within which the chosen settings must render every burst', 30, { min: 0 }),
  out: opt.string('Report path without extension', fileURLToPath(new URL('../results/autoscale', import.meta.url))),
};

const parsed = parseScriptOptions(options, process.argv.slice(2), 'Usage: npm run sim:autoscale -- [options]');
const o = parsed.values;

const farm: FarmModel = {
  imagesPerWorkerS: o.imagesPerWorkerS,
  leasedPerWorker: 16, // --max-batch 8 + --prefetch 8
  nodeProvisionS: o.nodeProvisionS,
  modelLoadS: o.modelLoadS,
  drainS: 5,
  nodeIdleRemoveS: o.nodeIdleRemoveS,
  metricLagS: 30,
  evaluateEveryS: 15,
};

const base = { activation: 0, cooldownS: 300, maxReplicas: 64, scaleDownWindowS: 300 } as const;
const settings: SimSettings[] = [];
// The queue alone: the issue's first idea, at several targets.
for (const target of [16, 64, 256, 1024]) settings.push({ ...base, query: 'queued', demandS: 0, target });
// Queue plus work in flight (τ seconds of the completion rate): at steady
// state this asks for rate / (images per worker-second · utilisation) workers.
for (const demandS of [30, 60]) {
  for (const utilisation of [0.7, 0.85, 1, 1.15]) {
    settings.push({ ...base, query: 'demand', demandS, target: Math.round(o.imagesPerWorkerS * demandS * utilisation) });
  }
}
// Around the demand rule: cooldown, stabilization window, max replicas.
const around = { ...base, query: 'demand' as const, demandS: 60, target: Math.round(o.imagesPerWorkerS * 60) };
for (const cooldownS of [60, 900]) settings.push({ ...around, cooldownS });
for (const scaleDownWindowS of [60, 600, 1200]) settings.push({ ...around, scaleDownWindowS });
for (const maxReplicas of [32, 48, 96, 128]) settings.push({ ...around, maxReplicas });
settings.push({ ...around, activation: 10 });

const started = performance.now();
const arrivals = generateArrivals({ imagesPerDay: o.imagesPerDay, peakToMean: o.peakToMean, peakHour: 15, bursts: o.bursts, burstImages: o.burstImages, seed: o.seed });
const results = settings.map((s) => simulateDay(arrivals, farm, s));
const elapsedS = (performance.now() - started) / 1000;

const label = (r: SimResult): string => {
  const s = r.settings;
  const q = s.query === 'queued' ? 'queued' : `demand τ=${s.demandS}s`;
  return `${q} target=${s.target} activation=${s.activation} cooldown=${s.cooldownS}s window=${s.scaleDownWindowS}s max=${s.maxReplicas}`;
};
const eligible = results.filter((r) => r.waitP95S <= o.sloP95S && r.unfinished === 0 && r.burstDoneS <= o.sloBurstMin * 60);
// None meets the targets (too few workers at max, too slow a GPU): show the one that waits least instead.
const chosen = eligible.length > 0
  ? [...eligible].sort((a, b) => a.gpuHours - b.gpuHours)[0]
  : [...results].sort((a, b) => a.unfinished - b.unfinished || a.allWaitP95S - b.allWaitP95S)[0];
if (chosen === undefined) throw new Error('no settings simulated');
const chosenLine = eligible.length > 0 ? `chosen: ${label(chosen)}` : `no setting meets the targets; the least waiting: ${label(chosen)}`;

const head = ['query', 'τ s', 'target', 'activ.', 'cooldown', 'window', 'max', 'GPU-h', 'img/GPU-h', 'p50 s', 'p95 s', 'all p50', 'all p95', 'burst done', 'peak', ''];
const rows = results.map((r) => {
  const s = r.settings;
  return [s.query, String(s.demandS), String(s.target), String(s.activation), String(s.cooldownS), String(s.scaleDownWindowS), String(s.maxReplicas),
    r.gpuHours.toFixed(0), r.imagesPerGpuHour.toFixed(0), r.waitP50S.toFixed(0), r.waitP95S.toFixed(0), r.allWaitP50S.toFixed(0), r.allWaitP95S.toFixed(0),
    r.unfinished > 0 ? `${r.unfinished} left` : `${(r.burstDoneS / 60).toFixed(0)} min`, String(r.peakReplicas), r === chosen ? (eligible.length > 0 ? '← chosen' : '← least waiting') : ''];
});
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
const fmt = (r: string[]) => r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ').trimEnd();
const text = `Autoscaling simulator: ${o.imagesPerDay} images/day (${o.bursts} bursts of ${o.burstImages}), peak ${o.peakToMean}x mean, seed ${o.seed}
Farm: ${o.imagesPerWorkerS} images/s per GPU worker, new GPU node ${o.nodeProvisionS} s, model load ${o.modelLoadS} s, idle node removed after ${o.nodeIdleRemoveS} s,
      drain ${farm.drainS} s, metric lag ${farm.metricLagS} s, KEDA/HPA every ${farm.evaluateEveryS} s, ${farm.leasedPerWorker} images leased per worker.
Waits are queue waits (arrival to start of rendering) of the measured day's images; p50/p95: diurnal images, all: bursts included.
GPU-hours count every GPU node from its request to its removal. Chosen: fewest GPU-hours with diurnal p95 <= ${o.sloP95S} s, every burst done within ${o.sloBurstMin} min, no image left over.
Command: npm run sim:autoscale${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}   (${elapsedS.toFixed(1)} s)

${fmt(head)}
${rows.map(fmt).join('\n')}

${chosenLine}
`;

await mkdir(new URL('.', `file://${o.out}`), { recursive: true });
await writeFile(`${o.out}.txt`, text);
await writeFile(`${o.out}.json`, `${JSON.stringify({ options: o, farm, results: results.map(({ timeline: _t, ...r }) => r), chosen: chosenLine }, null, 2)}\n`);
await writeFile(`${o.out}.svg`, renderAutoscaleChart(`latentfarm autoscaling: ${o.imagesPerDay} images/day, peak ${o.peakToMean}x, ${o.bursts} bursts of ${o.burstImages}`, chosen, results, label));
process.stdout.write(text);
