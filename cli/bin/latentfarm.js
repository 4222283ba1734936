#!/usr/bin/env node
// Runs the compiled CLI: `tsc -b` (npm run build) writes it to dist/. The npm scripts that start it
// (demo, latentfarm) build first; the container image builds it in its own stage.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/src/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('latentfarm: the CLI is not built yet: run `npm run build` (tsc -b) in the repository first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
