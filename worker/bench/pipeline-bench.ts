// The pipeline benchmark on the bundled model (onnxruntime-node, cpu unless
// --provider says otherwise):
//  1. images/s at max batch 1, 4 and 16;
//  2. the share of wall time spent outside onnxruntime calls;
//  3. continuous vs one-batch-at-a-time batching under Poisson arrivals.
//   node --import tsx worker/bench/pipeline-bench.ts [--provider cpu|webgpu|cuda] [--images N]
import { mkdir, writeFile } from 'node:fs/promises';
import { onnxBusy, type Provider } from '../src/pipeline/onnx-session.js';
import { engine, render } from './render.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
};
const provider = arg('provider', 'cpu') as Provider;
const images = Number(arg('images', '48'));
const steps = 25;
const log = (s: string) => process.stdout.write(`${s}\n`);
const prompt = (i: number) => `a ${['red', 'blue', 'green', 'yellow'][i % 4]} ${['circle', 'square', 'triangle', 'star'][(i >> 2) % 4]} on a ${['white', 'black', 'gray'][i % 3]} background`;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;

log(`pipeline benchmark: shapes-ldm 64×64, DDIM ${steps} steps, CFG 5, provider ${provider}, ${images} images per run`);
const throughput: { maxBatch: number; imagesPerSecond: number; outsideOnnxShare: number }[] = [];
for (const maxBatch of [1, 4, 16]) {
  const e = await engine(maxBatch, 'continuous', provider);
  await Promise.all([0, 1].map((i) => render(e, { prompt: prompt(i), seed: i }))); // warm-up
  const busy0 = onnxBusy.seconds;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: images }, (_, i) => render(e, { prompt: prompt(i), seed: 100 + i })));
  const wall = (performance.now() - t0) / 1000;
  const outside = 1 - (onnxBusy.seconds - busy0) / wall;
  throughput.push({ maxBatch, imagesPerSecond: images / wall, outsideOnnxShare: outside });
  log(`max batch ${String(maxBatch).padStart(2)}: ${(images / wall).toFixed(2)} images/s, ${(100 * outside).toFixed(1)} % of wall time outside onnxruntime`);
}

// Poisson arrivals at 70 % of the batch-16 capacity, same arrival times for both policies.
const capacity = throughput.at(-1)?.imagesPerSecond ?? 1;
const rate = 0.7 * capacity;
let t = 0;
const arrivals = Array.from({ length: images * 2 }, () => (t += -Math.log(1 - Math.random()) / rate));
const poisson: Record<string, { imagesPerSecond: number; p50: number; p95: number }> = {};
for (const policy of ['continuous', 'static'] as const) {
  const e = await engine(16, policy, provider);
  await render(e, { prompt: prompt(0), seed: 0 });
  const start = performance.now();
  const latencies: number[] = [];
  let last = 0;
  await Promise.all(arrivals.map(async (at, i) => {
    await new Promise((r) => setTimeout(r, at * 1000));
    const a = performance.now();
    await render(e, { prompt: prompt(i), seed: 500 + i });
    last = performance.now();
    latencies.push((last - a) / 1000);
  }));
  poisson[policy] = { imagesPerSecond: arrivals.length / ((last - start) / 1000), p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95) };
  log(`poisson ${rate.toFixed(2)} img/s, ${policy.padEnd(10)}: ${poisson[policy].imagesPerSecond.toFixed(2)} images/s, latency p50 ${poisson[policy].p50.toFixed(2)} s, p95 ${poisson[policy].p95.toFixed(2)} s`);
}
await mkdir('loadtest/results', { recursive: true });
await writeFile('loadtest/results/bench-pipeline.json', `${JSON.stringify({ provider, steps, images, throughput, poissonRate: rate, poisson }, null, 2)}\n`);
log('written loadtest/results/bench-pipeline.json');
