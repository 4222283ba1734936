// vitest's global setup: one incremental `tsc -b` before a run, so the compiled JavaScript that
// tests start (the `latentfarm` bin runs dist/) and pack (the SDK) matches the sources, then the
// console's bundle (what `npm run build` does), so the coordinator serves current pages. After
// `npm test`'s check has built everything it has little to do and takes a few seconds.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { repoRoot } from './processes.js';

export async function setup(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    await promisify(execFile)(process.execPath, [tsc, '-b'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc -b failed, so the compiled CLI the tests start is not current:\n${stdout}${stderr}`);
  }
  try {
    await promisify(execFile)(process.execPath, ['console/dist/scripts/bundle.js'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`the console's bundle failed, so the pages the tests load are not current:\n${stdout}${stderr}`);
  }
}
