// The three ONNX layouts users have, each exported from the same tiny SD 1.5
// (models/sd15-tiny/recipe/make_fixtures.py), through real onnxruntime
// sessions: recognised, loaded as they are, rendering the same pictures; and
// today's scalar-timestep UNet batching images at different steps in one call.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from 'onnxruntime-node';
import { ImageFormat, Scheduler } from '@latentfarm/proto';
import { eventually, spawnCli } from '@latentfarm/testkit';
import type { RenderOutput } from '../src/engine/engine.js';
import { OnnxEngine, type OnnxOptions } from '../src/engine/onnx.js';
import { decodePng } from '../src/image/png.js';
import { FALLBACK_NATIVE_SIZE, loadModelFolder, ModelFolderError, type ModelFormat } from '../src/pipeline/model-folder.js';
import { adaptScalarTimestep } from '../src/pipeline/onnx-graph.js';
import { createSession } from '../src/pipeline/onnx-session.js';
import { createUnetSession } from '../src/pipeline/unet-session.js';
import { Unet } from '../src/pipeline/unet.js';

const fixture = (name: string) => new URL(`./fixtures/${name}/`, import.meta.url).pathname.replace(/\/$/, '');
const FORMATS: readonly [ModelFormat, string][] = [
  ['optimum', fixture('sd15-tiny-optimum')],
  ['optimum-1.23', fixture('sd15-tiny-optimum-1.23')],
  ['diffusers-onnx', fixture('sd15-tiny-diffusers-onnx')],
];
const OPTIMUM = fixture('sd15-tiny-optimum');

async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    out[relative(dir, file)] = createHash('sha256').update(await readFile(file)).digest('hex');
  }
  return out;
}

const create = (dir: string, more: Partial<OnnxOptions> = {}) => OnnxEngine.create({ modelDirs: [dir], provider: 'cpu', maxBatch: 8, threads: 1, ...more });

let task = 0;
function render(e: OnnxEngine, a: { prompt: string; seed: number; steps?: number; scheduler?: Scheduler }, onStep: (step: number) => void = () => undefined): Promise<RenderOutput> {
  return e.render({
    taskId: `formats/${task++}`, model: e.info.models[0] as string, prompt: a.prompt, negativePrompt: '',
    params: { width: 64, height: 64, steps: a.steps ?? 8, cfgScale: 5, scheduler: a.scheduler ?? Scheduler.DDIM, seed: a.seed, outputFormat: ImageFormat.PNG },
    signal: new AbortController().signal, onStep,
  });
}

/** Largest per-channel difference and the share of differing bytes between two PNGs' pixels. */
function compare(a: Uint8Array, b: Uint8Array): { maxDiff: number; differing: number } {
  const x = decodePng(a).rgb;
  const y = decodePng(b).rgb;
  expect(x.length).toBe(y.length);
  let maxDiff = 0;
  let differing = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    maxDiff = Math.max(maxDiff, d);
    if (d > 0) differing++;
  }
  return { maxDiff, differing: differing / x.length };
}

describe('the three export formats', () => {
  it.each(FORMATS)('%s: recognised from the folder, loaded as it is, renders 64×64', async (format, dir) => {
    const before = await hashTree(dir);
    const folder = await loadModelFolder(dir);
    expect(folder.format).toBe(format);
    // diffusers' legacy script writes no config.json beside its models: SD defaults, and SD 1.5's native size.
    const native = format === 'diffusers-onnx' ? FALLBACK_NATIVE_SIZE : 64;
    expect([folder.vaeScaleFactor, folder.latentChannels, folder.nativeWidth, folder.nativeHeight]).toEqual([8, 4, native, native]);
    expect(folder.formatDescription.split('\n')).toHaveLength(1);
    const e = await create(dir);
    expect(e.loaded[0]?.format).toBe(format);
    // Today's scalar timestep is adapted; the older layouts already take one per row.
    expect(e.loaded[0]?.unetTimestep).toBe(format === 'optimum' ? 'adapted' : 'per-sample');
    expect(e.info.modelDefaults).toEqual([{ name: folder.name, width: native, height: native, scheduler: 'pndm' }]);
    const png = decodePng((await render(e, { prompt: 'a red circle', seed: 3 })).image);
    expect([png.width, png.height]).toEqual([64, 64]);
    expect(await hashTree(dir)).toEqual(before);
  });

  it('renders the same picture from the same prompt and seed in every format', async () => {
    const engines = await Promise.all(FORMATS.map(([, dir]) => create(dir)));
    for (const scheduler of [Scheduler.DDIM, Scheduler.EULER_ANCESTRAL]) {
      const [reference, ...others] = await Promise.all(engines.map((e) => render(e, { prompt: 'a blue square on a white background', seed: 11, scheduler })));
      for (const other of others) {
        const { maxDiff, differing } = compare(reference!.image, other.image);
        // Three exports of the same weights; only float rounding between opsets may differ.
        expect(maxDiff).toBeLessThanOrEqual(1);
        expect(differing).toBeLessThan(0.01);
      }
    }
  });

  it('logs the format it recognised once when the worker starts', async () => {
    // A port we hold that speaks no gRPC: the worker starts, logs, then fails to connect.
    const refuser = createServer((socket) => socket.destroy());
    refuser.listen(0, '127.0.0.1');
    await once(refuser, 'listening');
    const { port } = refuser.address() as AddressInfo;
    const worker = spawnCli(['worker', '--engine', 'onnx', '--model-dir', OPTIMUM, '--coordinator', `127.0.0.1:${port}`,
      '--metrics-port', '-1', '--reconnect-base-ms', '50', '--reconnect-max-ms', '100']);
    try {
      await eventually(() => worker.output().includes('connection to coordinator lost'), 60_000, 'the first connection attempt');
      const lines = worker.output().split('\n').filter((l) => l.includes('"format"'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('"format":"optimum"');
      expect(lines[0]).toContain('Optimum ≥ 1.24 export');
      expect(lines[0]).toContain('"unetTimestep":"adapted"');
    } finally {
      worker.kill('SIGKILL');
      await worker.exited();
      refuser.close();
    }
  });
});

describe("today's scalar-timestep UNet", () => {
  const unetFile = join(OPTIMUM, 'unet', 'model.onnx');

  it('adapted: one call with timesteps [999, 500, 1] equals the three single calls of the original graph', async () => {
    const folder = await loadModelFolder(OPTIMUM);
    expect(folder.unetTimestep?.shape).toEqual([]);
    const adapted = await createUnetSession(unetFile, folder.unetTimestep, 'adapt', 'cpu', 1);
    expect(adapted.handling).toBe('adapted');
    const original = await createSession(unetFile, 'cpu', 1);
    const config = JSON.parse(await readFile(join(OPTIMUM, 'unet', 'config.json'), 'utf8')) as { in_channels: number; cross_attention_dim: number };
    const [channels, seq, width] = [config.in_channels, 77, config.cross_attention_dim];
    const per = channels * 8 * 8;
    const x = Float32Array.from({ length: 3 * per }, (_, i) => Math.sin(i * 0.37));
    const h = Float32Array.from({ length: 3 * seq * width }, (_, i) => Math.cos(i * 0.11));
    const ts = [999, 500, 1];
    const together = await new Unet(adapted.session, unetFile).run({ sample: x, timesteps: ts, hidden: h, latentShape: [channels, 8, 8], seqLen: seq });
    const single = async (row: number, t: number): Promise<number> => {
      const out = await original.run({
        sample: new Tensor('float32', x.slice(row * per, (row + 1) * per), [1, channels, 8, 8]),
        timestep: new Tensor('float32', Float32Array.of(t), []),
        encoder_hidden_states: new Tensor('float32', h.slice(row * seq * width, (row + 1) * seq * width), [1, seq, width]),
      });
      const alone = (out[original.outputNames[0] as string] as Tensor).data as Float32Array;
      let maxDiff = 0;
      for (let i = 0; i < per; i++) maxDiff = Math.max(maxDiff, Math.abs(alone[i]! - together[row * per + i]!));
      return maxDiff;
    };
    // Exactly 0 on this project's machines (one thread); the bound leaves room for other CPUs' kernels,
    // far below what a row at another timestep differs by.
    for (const [row, t] of ts.entries()) expect(await single(row, t), `row ${row} (t = ${t})`).toBeLessThanOrEqual(1e-5);
    expect(await single(0, 500)).toBeGreaterThan(1e-3);
  });

  it('runs images at different steps in one UNet call, and renders what grouping renders', async () => {
    const calls: { adapt: number[][]; group: number[][] } = { adapt: [], group: [] };
    const [adapt, group] = await Promise.all((['adapt', 'group'] as const).map((mode) =>
      create(OPTIMUM, { unetTimestep: mode, onUnetCall: (_m, _rows, ts) => calls[mode].push([...ts]) })));
    const first = { prompt: 'a green triangle', seed: 21, steps: 20 };
    const second = { prompt: 'a yellow star', seed: 22, steps: 20 };
    const staggered = async (e: OnnxEngine): Promise<[RenderOutput, RenderOutput]> => {
      await render(e, { ...second, steps: 1 }); // caches the second prompt, so it joins at the next step boundary
      let joined: Promise<RenderOutput> | undefined;
      const a = await render(e, first, (step) => {
        if (step === 2 && joined === undefined) joined = render(e, second);
      });
      return [a, await (joined as Promise<RenderOutput>)];
    };
    const [adaptA, adaptB] = await staggered(adapt!);
    const [groupA, groupB] = await staggered(group!);
    const mixed = (c: number[][]) => c.filter((ts) => new Set(ts).size > 1);
    expect(mixed(calls.adapt).length).toBeGreaterThan(0); // rows at different timesteps in one call
    expect(mixed(calls.group)).toEqual([]); // grouping: every call has one timestep
    expect(calls.group.length).toBeGreaterThan(calls.adapt.length);
    for (const [x, y] of [[adaptA, groupA], [adaptB, groupB]] as const) {
      const { maxDiff, differing } = compare(x.image, y.image);
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(differing).toBeLessThan(0.005);
    }
  });

  it('an export without the pattern is left byte-identical: the Optimum ≤ 1.23 UNet', async () => {
    const bytes = await readFile(join(fixture('sd15-tiny-optimum-1.23'), 'unet', 'model.onnx'));
    const result = adaptScalarTimestep(bytes);
    expect(result).toEqual({ adapted: false, reason: expect.stringMatching(/"timestep" is declared \[\w+\], not as a scalar/) as unknown });
  });
});

describe('broken folders in the new layouts', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'broken-formats-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const cases: [string, string, (d: string) => Promise<void>, RegExp][] = [
    ['Optimum without its external UNet weights', OPTIMUM, (d) => rm(join(d, 'unet/model.onnx_data')), /unet\/model\.onnx: onnxruntime could not load it: /],
    ['legacy conversion without weights.pb', fixture('sd15-tiny-diffusers-onnx'), (d) => rm(join(d, 'unet/weights.pb')), /unet\/model\.onnx: onnxruntime could not load it: /],
    ['Optimum index without a VAE entry', OPTIMUM, async (d) => {
      const index = JSON.parse(await readFile(join(d, 'model_index.json'), 'utf8')) as Record<string, unknown>;
      delete index['vae'];
      await writeFile(join(d, 'model_index.json'), JSON.stringify(index));
    }, /model_index\.json: has no "vae" \(Optimum\) or "vae_decoder" \(diffusers ONNX\) entry/],
    ['an SDXL index (a second text encoder)', OPTIMUM, async (d) => {
      const index = JSON.parse(await readFile(join(d, 'model_index.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(d, 'model_index.json'), JSON.stringify({ ...index, _class_name: 'StableDiffusionXLPipeline', text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'] }));
    }, /model_index\.json: StableDiffusionXLPipeline has a second text encoder \(SDXL\); only SD 1\.x\/2\.x layouts are supported/],
    ['VAE config with a bad block list', OPTIMUM, (d) => writeFile(join(d, 'vae_decoder/config.json'), '{"block_out_channels": []}'), /vae_decoder\/config\.json: block_out_channels \[\] is not a non-empty list/],
  ];

  it.each(cases)('%s: one line naming the file', async (name, source, breakIt, message) => {
    const d = join(dir, name.replace(/\W+/g, '-'));
    await cp(source, d, { recursive: true });
    await breakIt(d);
    const err = await create(d).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModelFolderError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });
});
