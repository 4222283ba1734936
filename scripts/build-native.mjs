// Builds better-sqlite3's native module (the embedded store's SQLite) when it is missing or was built for another
// Node. `.npmrc` keeps `npm ci` from running install scripts (see the README), so that package's own build step
// never runs; this runs it, with node-gyp against the local Node headers, and never downloads a prebuilt binary.
// A no-op (a fraction of a second) once the module loads. Needs python3, make and a C++ compiler.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

function loads() {
  try {
    const Database = require('better-sqlite3');
    new Database(':memory:').close();
    return true;
  } catch {
    return false;
  }
}

if (!loads()) {
  const dir = dirname(require.resolve('better-sqlite3/package.json'));
  // The headers of the Node that runs us, where its installers put them (<prefix>/include/node: Debian's
  // package, the official tarballs, nvm, the node images), unless the user named a folder: node-gyp would
  // otherwise download them from nodejs.org.
  const env = { ...process.env };
  if (!env.npm_config_nodedir) {
    const prefix = dirname(dirname(process.execPath));
    if (!existsSync(join(prefix, 'include', 'node', 'node.h'))) {
      process.stderr.write(`building better-sqlite3 needs Node's C headers, not found in ${join(prefix, 'include', 'node')}: install them, or set npm_config_nodedir to the folder that holds include/node\n`);
      process.exit(1);
    }
    env.npm_config_nodedir = prefix;
  }
  process.stderr.write('building better-sqlite3 for the embedded store (once; about a minute)...\n');
  // `npm run` puts npm's own node-gyp on the PATH; the output is shown only if the build fails.
  const r = spawnSync('npm', ['run', 'build-release'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0 || !loads()) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}\n`);
    process.stderr.write('building better-sqlite3 failed (above): it needs python3, make and g++ (Debian: apt-get install python3 make g++)\n');
    process.exit(1);
  }
}
