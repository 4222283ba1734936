import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { flagOnly, formatHelp, opt, parseOptions } from './config.js';

describe('flag-only options', () => {
  const specs = { maxQueuedImages: flagOnly(opt.int('quota', -1, { min: -1 })), maxLabels: opt.int('labels', 64) };

  it('are set by their flag and never by the LATENTFARM_* variable of the same name, which other options still read', () => {
    const env = { LATENTFARM_MAX_QUEUED_IMAGES: '5', LATENTFARM_MAX_LABELS: '7' };
    expect(parseOptions(specs, [], env).values).toEqual({ maxQueuedImages: -1, maxLabels: 7 });
    expect(parseOptions(specs, ['--max-queued-images', '9'], env).values.maxQueuedImages).toBe(9);
  });

  it('name no variable in --help', () => {
    const help = formatHelp('Usage: x', specs);
    expect(help).not.toContain('LATENTFARM_MAX_QUEUED_IMAGES');
    expect(help).toContain('LATENTFARM_MAX_LABELS');
  });
});

describe('parseScriptOptions', () => {
  // A script (benchmark, report) with a mistyped flag: one line and the usage, status 2, no stack trace.
  const script = (args: string[]) => spawnSync(process.execPath, ['--conditions=@latentfarm/source', '--import', 'tsx', '--input-type=module', '-e', [
    "import { opt, parseScriptOptions } from '@latentfarm/common';",
    "const { values } = parseScriptOptions({ runs: opt.int('Runs', 1, { min: 1 }) }, process.argv.slice(1), 'Usage: npm run x -- [options]', {});",
    'console.log(`runs ${values.runs}`);',
  ].join('\n'), '--', ...args], { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });

  it('exits 2 with the error and the usage on a bad flag, 0 with the help on --help, and gives the values otherwise', () => {
    const bad = script(['--rums', '3']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('unknown flag --rums (see --help)\nUsage: npm run x -- [options]\n');
    const help = script(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--runs <int>');
    const ok = script(['--runs', '3']);
    expect([ok.status, ok.stdout]).toEqual([0, 'runs 3\n']);
  });
});
