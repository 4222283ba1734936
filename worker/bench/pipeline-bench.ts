// The pipeline benchmark on the bundled model (onnxruntime-node, cpu unless
// --provider says otherwise):
//  1. images/s at max batch 1, 4 and 16;
//  2. the share of wall time spent outside onnxruntime calls;
//  3. continuous vs one-batch-at-a-time batching under Poisson arrivals;
//  4. a scalar-timestep UNet (today's Optimum interface) adapted in memory vs
//     grouping rows by timestep, continuous batching under Poisson arrivals,
//     on --timestep-model (default: the bundled model).
//  5. (--sections agree, with a --provider other than cpu) how far that
//     provider's images are from the cpu's, pixel by pixel.
//   node --import tsx worker/bench/pipeline-bench.ts [--provider cpu|webgpu|cuda] [--images N] [--batches 1,4,16]
//     [--sections throughput,poisson,timestep,agree] [--timestep-model DIR] [--timestep-steps N] [--seed N]
import { mkdir, writeFile } from 'node:fs/promises';
import type { OnnxEngine } from '../src/engine/onnx.js';
import { onnxBusy, type Provider } from '../src/pipeline/onnx-session.js';
import type { UnetTimestepMode } from '../src/pipeline/unet-session.js';
import { decodePng } from '../src/image/png.js';
import { engine, MODEL_DIR, render } from './render.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
};
const provider = arg('provider', 'cpu') as Provider;
const images = Number(arg('images', '48'));
const sections = new Set(arg('sections', 'throughput,poisson,timestep').split(','));
const batches = arg('batches', '1,4,16').split(',').map(Number);
const steps = 25;
const log = (s: string) => process.stdout.write(`${s}\n`);
const prompt = (i: number) => `a ${['red', 'blue', 'green', 'yellow'][i % 4]} ${['circle', 'square', 'triangle', 'star'][(i >> 2) % 4]} on a ${['white', 'black', 'gray'][i % 3]} background`;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;

/** Seeded Poisson arrival times (s), so every policy and mode sees the same arrivals. */
function poissonArrivals(count: number, rate: number, seed: number): number[] {
  let x = seed >>> 0;
  const uniform = () => {
    // mulberry32
    x = (x + 0x6d2b79f5) | 0;
    let z = Math.imul(x ^ (x >>> 15), 1 | x);
    z = (z + Math.imul(z ^ (z >>> 7), 61 | z)) ^ z;
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
  let t = 0;
  return Array.from({ length: count }, () => (t += -Math.log(1 - uniform()) / rate));
}

interface PoissonResult { imagesPerSecond: number; p50: number; p95: number }

/** Renders one image per arrival; throughput over first arrival → last result. */
async function runArrivals(e: OnnxEngine, arrivals: readonly number[], args: { steps?: number; size?: number } = {}): Promise<PoissonResult> {
  const start = performance.now();
  const latencies: number[] = [];
  let last = 0;
  await Promise.all(arrivals.map(async (at, i) => {
    await new Promise((r) => setTimeout(r, at * 1000));
    const a = performance.now();
    await render(e, { prompt: prompt(i), seed: 500 + i, ...args });
    last = performance.now();
    latencies.push((last - a) / 1000);
  }));
  return { imagesPerSecond: arrivals.length / ((last - start) / 1000), p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95) };
}

const seed = Number(arg('seed', '1'));
const report: Record<string, unknown> = { provider, steps, images, seed };
if (sections.has('throughput') || sections.has('poisson')) {
  log(`pipeline benchmark: shapes-ldm 64×64, DDIM ${steps} steps, CFG 5, provider ${provider}, ${images} images per run`);
  const throughput: { maxBatch: number; imagesPerSecond: number; outsideOnnxShare: number }[] = [];
  for (const maxBatch of batches) {
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
  report['throughput'] = throughput;

  if (sections.has('poisson')) {
    // Poisson arrivals at 70 % of the largest batch's capacity, same arrival times for both policies.
    const rate = 0.7 * (throughput.at(-1)?.imagesPerSecond ?? 1);
    const arrivals = poissonArrivals(images * 2, rate, seed);
    const poisson: Record<string, PoissonResult> = {};
    for (const policy of ['continuous', 'static'] as const) {
      const e = await engine(batches.at(-1) ?? 16, policy, provider);
      await render(e, { prompt: prompt(0), seed: 0 });
      poisson[policy] = await runArrivals(e, arrivals);
      log(`poisson ${rate.toFixed(2)} img/s, ${policy.padEnd(10)}: ${poisson[policy].imagesPerSecond.toFixed(2)} images/s, latency p50 ${poisson[policy].p50.toFixed(2)} s, p95 ${poisson[policy].p95.toFixed(2)} s`);
    }
    report['poissonRate'] = rate;
    report['poisson'] = poisson;
  }
}

if (sections.has('timestep')) {
  // A burst (everything at once, so all images share each step) measures capacity;
  // Poisson arrivals at 70 % of it put images on different steps in one batch.
  const modelDir = arg('timestep-model', MODEL_DIR);
  const tSteps = Number(arg('timestep-steps', String(steps)));
  const maxBatch = 16;
  const stats = { calls: 0, rows: 0 };
  const engines = Object.fromEntries(await Promise.all((['adapt', 'group'] as const).map(async (mode) => [mode, await engine(maxBatch, 'continuous', provider, {
    modelDir, unetTimestep: mode, onUnetCall: (_model, rows) => { stats.calls++; stats.rows += rows; },
  })] as const))) as Record<UnetTimestepMode, OnnxEngine>;
  const adapted = engines.adapt;
  const loaded = adapted.loaded[0];
  const size = adapted.info.modelDefaults[0]?.width ?? 64;
  log(`\nUNet timestep: ${loaded?.model} (${loaded?.format}), ${size}×${size}, DDIM ${tSteps} steps, CFG 5, max batch ${maxBatch}; adapt → ${loaded?.unetTimestep}, group → ${engines.group.loaded[0]?.unetTimestep}`);
  if (loaded?.unetTimestep !== 'adapted') log(`  (the adapt engine did not adapt: ${loaded?.unetTimestepDetail})`);
  const args = { steps: tSteps, size };
  for (const e of Object.values(engines)) await Promise.all([0, 1].map((i) => render(e, { prompt: prompt(i), seed: i, ...args }))); // warm-up
  const t0 = performance.now();
  await Promise.all(Array.from({ length: maxBatch * 2 }, (_, i) => render(adapted, { prompt: prompt(i), seed: 100 + i, ...args })));
  const capacity = (maxBatch * 2) / ((performance.now() - t0) / 1000);
  const rate = 0.7 * capacity;
  const arrivals = poissonArrivals(images * 2, rate, seed);
  const results: Record<string, PoissonResult & { unetCalls: number; rowsPerCall: number }> = {};
  for (const mode of ['adapt', 'group'] as const) {
    stats.calls = 0;
    stats.rows = 0;
    const r = await runArrivals(engines[mode], arrivals, args);
    results[mode] = { ...r, unetCalls: stats.calls, rowsPerCall: stats.rows / Math.max(1, stats.calls) };
    log(`poisson ${rate.toFixed(2)} img/s (70 % of a ${capacity.toFixed(2)} img/s burst), ${mode.padEnd(5)}: ${r.imagesPerSecond.toFixed(2)} images/s, ` +
      `latency p50 ${r.p50.toFixed(2)} s, p95 ${r.p95.toFixed(2)} s; ${stats.calls} UNet calls, ${results[mode].rowsPerCall.toFixed(1)} rows per call`);
  }
  report['unetTimestep'] = { model: loaded?.model, format: loaded?.format, size, steps: tSteps, maxBatch, burstImagesPerSecond: capacity, poissonRate: rate, results };
}

if (sections.has('agree') && provider !== 'cpu') {
  // Same prompts and seeds on the cpu and on the provider: kernels differ in
  // float order, so pixels may differ a little, never wholesale.
  const n = 16;
  const [cpu, other] = await Promise.all([engine(n, 'continuous', 'cpu'), engine(n, 'continuous', provider)]);
  const renderAll = (e: OnnxEngine) => Promise.all(Array.from({ length: n }, (_, i) => render(e, { prompt: prompt(i), seed: 900 + i })));
  const [a, b] = [await renderAll(cpu), await renderAll(other)];
  let sum = 0;
  let max = 0;
  let count = 0;
  a.forEach((out, i) => {
    const x = decodePng(out.image).rgb;
    const y = decodePng((b[i] as typeof out).image).rgb;
    for (let k = 0; k < x.length; k++) {
      const d = Math.abs((x[k] ?? 0) - (y[k] ?? 0));
      sum += d;
      max = Math.max(max, d);
      count++;
    }
  });
  report['agree'] = { images: n, meanAbsDiff: sum / count, maxAbsDiff: max };
  log(`${provider} vs cpu, ${n} images: mean |Δpixel| ${(sum / count).toFixed(3)}, max ${max} (of 255)`);
}

await mkdir('loadtest/results', { recursive: true });
const timestepModel = (report['unetTimestep'] as { model?: string } | undefined)?.model;
const file = sections.size === 3 && !sections.has('agree') && provider === 'cpu' ? 'loadtest/results/bench-pipeline.json'
  : `loadtest/results/bench-pipeline-${[...sections].join('-')}${provider !== 'cpu' ? `-${provider}` : ''}${timestepModel !== undefined ? `-${timestepModel}` : ''}.json`;
await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
log(`written ${file}`);
