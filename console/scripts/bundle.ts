// Builds the console's assets into dist/www: the pages' TypeScript bundled and
// minified by esbuild (its binary comes from its npm platform package), the
// HTML and CSS copied. Run by `npm run build` after `tsc -b`, and by the test
// run's global setup, so the coordinator always serves current pages.
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { CONSOLE_FILES, consoleAssetsDir } from '../src/assets.js';

const out = consoleAssetsDir();
const web = join(out, '..', '..', 'web');
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(web, 'main.ts')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
});
// The rest of the console's files are served as written.
for (const { file } of CONSOLE_FILES) if (file !== 'app.js') await copyFile(join(web, file), join(out, file));
