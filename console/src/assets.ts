// Where `npm run build` leaves the bundled pages: <package>/dist/www, found
// from this file whether it runs compiled (dist/src) or from source (src).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ConsoleFile {
  /** The URL path the coordinator serves it at. */
  readonly path: string;
  /** Its name under the assets folder. */
  readonly file: string;
  readonly type: string;
}

/** Everything the console is made of: one page, one script, one stylesheet, an icon. */
export const CONSOLE_FILES: readonly ConsoleFile[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { path: '/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { path: '/app.css', file: 'app.css', type: 'text/css; charset=utf-8' },
  { path: '/favicon.svg', file: 'favicon.svg', type: 'image/svg+xml' },
];

export function consoleAssetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${import.meta.url}`);
    dir = up;
  }
  return join(dir, 'dist', 'www');
}
