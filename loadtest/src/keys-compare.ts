// `npm run loadtest:keys`: the fan-in load test with API keys off and on,
// interleaved (off, on, on, off, …) so a machine whose load drifts hurts both
// alike, and the medians compared. Issue 13 asks that keys (and the credits
// ledger, once it is in main: it is on whenever keys are) cost the fan-in
// less than 5 % of its throughput. Writes `<out>/<name>.{json,txt}`; exits 1
// when the drop is 5 % or more.
import { availableParallelism, loadavg } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { omitOptions, opt, parseScriptOptions, type OptionSpec } from '@latentfarm/common';
import { loadtestOptions, runLoadtest, type LoadtestConfig, type Report } from './loadtest.js';

const withDefault = <T>(s: OptionSpec<T>, d: T): OptionSpec<T> => ({ ...s, default: d });

/** The fan-in of README's load-test table: 64 workers × batch 16, one 2 ms step, 8 px images, 40,000 of them. */
const options = {
  ...omitOptions(loadtestOptions, ['keys', 'mode', 'name', 'durationS', 'jobRate', 'jobImagesMax']),
  name: opt.string('Name of the report', 'fanin-keys'),
  runs: opt.int('Runs with keys off and with keys on (each)', 3, { min: 1, max: 20 }),
  maxDropPercent: opt.number('The most a drop in throughput may be', 5, { min: 0 }),
  workers: withDefault(loadtestOptions.workers, 64),
  maxBatch: withDefault(loadtestOptions.maxBatch, 16),
  steps: withDefault(loadtestOptions.steps, 1),
  stepBaseMs: withDefault(loadtestOptions.stepBaseMs, 2),
  stepPerImageMs: withDefault(loadtestOptions.stepPerImageMs, 0.05),
  size: withDefault(loadtestOptions.size, 8),
  images: withDefault(loadtestOptions.images, 40_000),
};

interface Run {
  keys: 'off' | 'on';
  imagesPerSecond: number;
  steadyImagesPerSecond: number;
  coordinatorCpuSeconds: number;
  /** Load average (1 min) of the machine before the run. */
  loadBefore: number;
  notes: string[];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const { values } = parseScriptOptions(options, process.argv.slice(2), 'Usage: npm run loadtest:keys -- [options]');
const { runs: count, maxDropPercent, ...rest } = values;
const base: LoadtestConfig = { ...rest, mode: 'one-job', keys: 'off', durationS: 0, jobRate: 1, jobImagesMax: 1 };
// ABBA order: each pair of runs has one of each, and neither mode always goes first.
const order = Array.from({ length: count * 2 }, (_, i) => ((i % 4 === 0 || i % 4 === 3) ? 'off' : 'on') as 'off' | 'on');
const runs: Run[] = [];
for (const [i, keys] of order.entries()) {
  const loadBefore = loadavg()[0] as number;
  process.stderr.write(`== run ${i + 1}/${order.length}: keys ${keys} (load average ${loadBefore.toFixed(2)})\n`);
  const r: Report = await runLoadtest({ ...base, keys, name: `${values.name}-${keys}` }, (l) => process.stderr.write(`${l}\n`));
  runs.push({ keys, imagesPerSecond: r.imagesPerSecond, steadyImagesPerSecond: r.steadyImagesPerSecond, coordinatorCpuSeconds: r.coordinator.cpuSeconds, loadBefore, notes: r.notes });
}

const side = (k: 'off' | 'on') => {
  const rs = runs.filter((r) => r.keys === k);
  return {
    imagesPerSecond: median(rs.map((r) => r.imagesPerSecond)),
    steadyImagesPerSecond: median(rs.map((r) => r.steadyImagesPerSecond)),
    coordinatorCpuSeconds: median(rs.map((r) => r.coordinatorCpuSeconds)),
  };
};
const off = side('off');
const on = side('on');
const dropPercent = (1 - on.imagesPerSecond / off.imagesPerSecond) * 100;
const pass = dropPercent < maxDropPercent && runs.every((r) => r.notes.length === 0);
const loads = runs.map((r) => r.loadBefore);
const lines = [
  `fan-in with API keys off and on: ${base.workers} sim workers × batch ${base.maxBatch}, ${base.steps} step(s) of ${base.stepBaseMs} + ${base.stepPerImageMs}×batch ms, ` +
    `${base.size}px, ${base.images} images, ${base.store} store; ${count} runs each, interleaved ${order.join(' ')}`,
  `machine: ${availableParallelism()} cores, load average (1 min) before the runs ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`,
  '',
  'run  keys  images/s  steady images/s  coordinator CPU s  load before',
  ...runs.map((r, i) => `${String(i + 1).padStart(3)}  ${r.keys.padEnd(4)}  ${r.imagesPerSecond.toFixed(0).padStart(8)}  ${r.steadyImagesPerSecond.toFixed(0).padStart(15)}  ` +
    `${r.coordinatorCpuSeconds.toFixed(1).padStart(17)}  ${r.loadBefore.toFixed(2).padStart(11)}${r.notes.length > 0 ? `  ${r.notes.join('; ')}` : ''}`),
  '',
  `median images/s        off ${off.imagesPerSecond.toFixed(0)}  on ${on.imagesPerSecond.toFixed(0)}`,
  `median steady images/s off ${off.steadyImagesPerSecond.toFixed(0)}  on ${on.steadyImagesPerSecond.toFixed(0)}`,
  `median coordinator CPU off ${off.coordinatorCpuSeconds.toFixed(1)} s  on ${on.coordinatorCpuSeconds.toFixed(1)} s`,
  `throughput drop with keys: ${dropPercent.toFixed(1)} % (limit ${maxDropPercent} %): ${pass ? 'PASS' : 'FAIL'}`,
];
const text = `${lines.join('\n')}\n`;
await mkdir(values.out, { recursive: true });
const file = join(values.out, values.name);
await writeFile(`${file}.json`, `${JSON.stringify({ config: base, order, runs, medians: { off, on }, dropPercent, maxDropPercent, pass }, null, 2)}\n`);
await writeFile(`${file}.txt`, text);
process.stdout.write(`${text}report: ${file}.json, ${file}.txt\n`);
process.exitCode = pass ? 0 : 1;
