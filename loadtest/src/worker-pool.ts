// Runs many sim workers in one process, so a load test can field 64 workers
// without 64 Node.js processes on a 2-core machine.
// It runs compiled (loadtest/dist/src/worker-pool.js, built by `npm run build`), as `latentfarm worker` does:
// under tsx, its transform's helpers showed in the workers' profile.
// Usage: node loadtest/dist/src/worker-pool.js <coordinator> <count> <maxBatch> <stepBaseMs> <stepPerImageMs> <prefix> [workerKeysFile]
// `workerKeysFile`: a JSON map worker id → worker API key (a farm with keys on); none: a farm run with --no-auth.
import { readFile } from 'node:fs/promises';
import { createLogger, Registry } from '@latentfarm/common';
import { defaultWorkerConfig, startWorker, type Worker } from '@latentfarm/worker';

const [coordinator = '', count = '1', maxBatch = '8', base = '20', per = '0.5', prefix = 'pool', keysFile = ''] = process.argv.slice(2);
const keys = keysFile === '' ? {} : JSON.parse(await readFile(keysFile, 'utf8')) as Record<string, string>;
const log = createLogger('pool', 'warn');
const workers: Worker[] = [];
for (let i = 0; i < Number(count); i++) {
  workers.push(await startWorker(defaultWorkerConfig({
    coordinator: coordinator.split(','), id: `${prefix}-${i}`, apiKey: keys[`${prefix}-${i}`] ?? '', engine: 'sim', maxBatch: Number(maxBatch),
    simStepBaseMs: Number(base), simStepPerImageMs: Number(per), metricsPort: -1, heartbeatMs: 1000,
  }), { log, registry: new Registry() }));
}
process.once('SIGTERM', () => {
  Promise.all(workers.map((w) => w.close())).then(() => process.exit(0), () => process.exit(1));
});
