// `npm run bench`: the farm benchmark of record — 16 sim workers at a
// GPU-like step time, one 20,000-image job. Prints images/s, farm efficiency
// and the coordinator's CPU and memory; writes loadtest/results/bench-farm16.*
import { main } from './loadtest.js';

const preset = ['--name', 'bench-farm16', '--mode', 'one-job', '--workers', '16', '--worker-processes', '4', '--max-batch', '8',
  '--steps', '25', '--step-base-ms', '20', '--step-per-image-ms', '0.5', '--images', '20000'];
process.exitCode = await main([...preset, ...process.argv.slice(2)]);
