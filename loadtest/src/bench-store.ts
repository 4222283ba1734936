// The store benchmark: the same one-job load test on the embedded store and on
// JetStream (its own nats-server), one after the other, printed side by side.
// Sim workers are made fast so the coordinator and its store are the limit:
// images/s here is the farm's dispatch + commit capacity, not GPU speed.
// Usage: npm run bench:store -- [loadtest options]
import { parseScriptOptions } from '@latentfarm/common';
import { formatReport, loadtestOptions, runLoadtest, writeReport, type Report } from './loadtest.js';

// A 4,000-image job runs first, unmeasured: a coordinator that has just started runs its commit path unoptimised
// for the first few thousand images (a fresh one spends 3-4x the CPU per image in its first two seconds), which
// a farm that has been running does not. `-- --warm-up 0` measures a cold coordinator.
const preset = ['--mode', 'one-job', '--workers', '8', '--worker-processes', '2', '--max-batch', '8',
  '--steps', '4', '--step-base-ms', '2', '--step-per-image-ms', '0.1', '--images', '20000', '--warm-up', '4000'];
const reports: Report[] = [];
for (const store of ['embedded', 'jetstream'] as const) {
  const { values } = parseScriptOptions(loadtestOptions, [...preset, ...process.argv.slice(2), '--store', store, '--name', `bench-store-${store}`],
    'Usage: npm run bench:store -- [loadtest options]');
  const r = await runLoadtest(values, (line) => process.stderr.write(`[${store}] ${line}\n`));
  await writeReport(r);
  process.stdout.write(`\n== ${store}\n${formatReport(r)}\n`);
  reports.push(r);
}
const row = (k: string, f: (r: Report) => string) => `${k.padEnd(28)}${reports.map((r) => f(r).padStart(12)).join('')}`;
process.stdout.write(`\n${row('', (r) => r.config.store)}\n${[
  row('images/s (whole run)', (r) => r.imagesPerSecond.toFixed(1)),
  row('images/s (steady state)', (r) => r.steadyImagesPerSecond.toFixed(1)),
  row('leases/s (dispatch)', (r) => r.leasesPerSecond.toFixed(1)),
  row('latency p50 s', (r) => r.latencySeconds.p50.toFixed(2)),
  row('latency p99 s', (r) => r.latencySeconds.p99.toFixed(2)),
  row('coordinator CPU (cores)', (r) => r.coordinator.cpuCores.toFixed(2)),
  row('submit seconds', (r) => r.submitSeconds.toFixed(2)),
].join('\n')}\n`);
