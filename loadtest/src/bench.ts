// `npm run bench:farm`: the farm efficiency benchmark of record (issue 11) —
// 16 sim workers, max batch 8, 25 steps of 20 ms, 4,000 images of 64×64, in
// both topologies, with where the slot-time went. Usage:
//   npm run bench:farm [-- --topology up|serve|both] [--runs N]
import { availableParallelism, loadavg } from 'node:os';
import { opt, parseScriptOptions } from '@latentfarm/common';
import { runEfficiency, type EfficiencyResult, type Topology } from './farm-efficiency.js';
import { ISSUE_WORKLOAD, tailBound } from './workload.js';

const options = {
  topology: opt.oneOf('Topology: up (one process), serve (a coordinator and one process per worker), or both', 'both', ['up', 'serve', 'both'] as const),
  runs: opt.int('Runs of each topology', 1, { min: 1, max: 20 }),
};
const { values } = parseScriptOptions(options, process.argv.slice(2), 'Usage: npm run bench:farm -- [options]');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const w = ISSUE_WORKLOAD;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
process.stdout.write(`workload: ${w.workers} sim workers, max batch ${w.maxBatch}, ${w.steps} steps of ${w.stepMs} ms (0 ms per image), ` +
  `${w.images} images of ${w.size}x${w.size}, prompts "shape N"; tail bound ${pct(tailBound(w))}\n`);
const topologies: Topology[] = values.topology === 'both' ? ['up', 'serve'] : [values.topology];
const results: EfficiencyResult[] = [];
for (const t of topologies) {
  for (let i = 0; i < values.runs; i++) {
    const l0 = load();
    const r = await runEfficiency(t, w);
    results.push(r);
    const b = r.breakdown;
    process.stdout.write([
      `\n== ${t} (run ${i + 1}; load average ${l0})`,
      `efficiency                 ${pct(r.efficiency)}  (${r.images} images in ${r.seconds.toFixed(3)} s; ideal ${r.idealImagesPerSecond.toFixed(0)} images/s)`,
      `farm CPU                   ${r.cpuCores.toFixed(2)} cores of ${availableParallelism()}; the rest of the machine ${r.otherCpuCores.toFixed(2)} (${t === 'serve' ? 'this watcher and ' : ''}other programs)`,
      `  rendering                ${pct(b.rendering)}`,
      `  empty slots in steps     ${pct(b.emptySlots)}  (mean batch fill ${pct(b.meanBatchFill)})`,
      `  step overrun             ${pct(b.stepOverrun)}  (mean step ${b.meanStepMs.toFixed(2)} ms)`,
      `  gaps between steps       ${pct(b.stepGaps)}  (PNG encoding ${b.encodeSeconds.toFixed(2)} s in all)`,
      `  ramp-up                  ${pct(b.rampUp)}  (devices idle until the first image was in)`,
      `  starved mid-job          ${pct(b.starved)}  (devices idle waiting for leases)`,
      `  idle after last step     ${pct(b.idleAfterLastStep)}  (last steps spread over ${b.lastStepSpreadSeconds.toFixed(3)} s; finish ${b.finishLagSeconds.toFixed(3)} s after the last step)`,
      `  unaccounted              ${pct(b.unaccounted)}`,
    ].join('\n') + '\n');
  }
}
