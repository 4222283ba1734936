// CLI start-up benchmark: runs `latentfarm --help` again and again and prints the median wall time
// from spawn to exit. Given several bins (e.g. another checkout's), it alternates between them, so
// a busy machine slows them alike and the ratio stays fair.
// Usage: npm run bench:cli -- [--runs N] [--command "ARGS"] [BIN ...]   (default BIN: this checkout's)
import { spawnSync } from 'node:child_process';
import { isAbsolute, relative } from 'node:path';
import { opt, parseScriptOptions } from '@latentfarm/common';
import { cliPath, repoRoot } from '@latentfarm/testkit';

const options = {
  runs: opt.int('Runs of each bin', 20, { min: 1 }),
  command: opt.string('Arguments of each run', '--help'),
};

const { values, positionals } = parseScriptOptions(options, process.argv.slice(2), 'Usage: npm run bench:cli -- [options] [BIN ...]', {});
const bins = positionals.length > 0 ? positionals : [cliPath];
const args = values.command.split(' ').filter((a) => a !== '');
const times = new Map(bins.map((b) => [b, [] as number[]]));

for (let i = 0; i < values.runs; i++) {
  for (const bin of bins) {
    const start = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (run.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${String(run.status)}: ${run.stderr.toString()}`);
    times.get(bin)?.push(ms);
  }
}

/** A bin inside this checkout by its path from the root, any other as given. */
function label(bin: string): string {
  const r = relative(repoRoot, bin);
  return r.startsWith('..') || isAbsolute(r) ? bin : r;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const medians = bins.map((bin) => {
  const xs = times.get(bin) ?? [];
  const m = median(xs);
  const out = `latentfarm ${args.join(' ')}: median ${m.toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, ${xs.length} runs) — ${label(bin)}\n`;
  process.stdout.write(out);
  return m;
});
const [first, ...rest] = medians;
for (const [i, m] of rest.entries()) process.stdout.write(`${label(bins[i + 1] ?? '')} takes ${(m / (first ?? m)).toFixed(2)}× as long as ${label(bins[0] ?? '')}\n`);
