// Loading a scalar-timestep UNet: adapted in memory (its external weights
// still found beside the user's file, which stays untouched) or grouped.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scalarTimestepUnet } from '../../test/tiny-onnx.js';
import { readOnnxInterface } from './onnx-interface.js';
import { createUnetSession } from './unet-session.js';
import { Unet } from './unet.js';

let dir: string;
let file: string;
const GAIN = 3;

async function hashes(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(d)).sort()) out[name] = createHash('sha256').update(await readFile(join(d, name))).digest('hex');
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unet-session-'));
  file = join(dir, 'model.onnx');
  await writeFile(file, scalarTimestepUnet('axes-input', { externalGain: 'model.onnx_data' }));
  await writeFile(join(dir, 'model.onnx_data'), new Uint8Array(Float32Array.of(GAIN).buffer));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const rows = (timesteps: number[]) => ({
  sample: Float32Array.from({ length: timesteps.length * 4 * 2 * 2 }, (_, i) => i % 7),
  timesteps, hidden: new Float32Array(timesteps.length * 3 * 8), latentShape: [4, 2, 2] as const, seqLen: 3,
});

describe('createUnetSession', () => {
  it('adapts a scalar-timestep UNet in memory: rows at different timesteps share one call, external weights load, files unchanged', async () => {
    const before = await hashes(dir);
    const declared = (await readOnnxInterface(file)).inputs.find((i) => i.name === 'timestep');
    expect(declared?.shape).toEqual([]);
    const loaded = await createUnetSession(file, declared, 'adapt', 'cpu', 1);
    expect(loaded.handling).toBe('adapted');
    expect(loaded.detail).toMatch(/Unsqueeze → Reshape/);
    const calls: number[][] = [];
    const unet = new Unet(loaded.session, file, (_n, ts) => calls.push([...ts]));
    const input = rows([999, 500, 1]);
    const out = await unet.run(input);
    expect(calls).toEqual([[999, 500, 1]]);
    const per = 16;
    [999, 500, 1].forEach((t, r) => expect(out[r * per + 1]).toBe((input.sample[r * per + 1] as number) * GAIN + t));
    expect(await hashes(dir)).toEqual(before);
  });

  it('groups rows by timestep when told to, with the same results', async () => {
    const declared = (await readOnnxInterface(file)).inputs.find((i) => i.name === 'timestep');
    const [adapted, grouped] = await Promise.all([
      createUnetSession(file, declared, 'adapt', 'cpu', 1), createUnetSession(file, declared, 'group', 'cpu', 1),
    ]);
    expect(grouped.handling).toBe('grouped');
    expect(grouped.detail).toMatch(/--unet-timestep group/);
    const calls: number[][] = [];
    const a = await new Unet(adapted.session, file).run(rows([999, 500, 999]));
    const g = await new Unet(grouped.session, file, (_n, ts) => calls.push([...ts])).run(rows([999, 500, 999]));
    expect(calls.map((c) => c.length).sort()).toEqual([1, 2]);
    expect(Array.from(g)).toEqual(Array.from(a));
  });

  it('keeps a UNet that already takes a timestep per row as it is', async () => {
    const d = await mkdtemp(join(tmpdir(), 'unet-per-row-'));
    try {
      const f = join(d, 'model.onnx');
      await writeFile(f, scalarTimestepUnet('axes-input', { timestepDims: ['steps'] }));
      const declared = (await readOnnxInterface(f)).inputs.find((i) => i.name === 'timestep');
      const loaded = await createUnetSession(f, declared, 'adapt', 'cpu', 1);
      expect(loaded.handling).toBe('per-sample');
      expect(loaded.detail).toMatch(/as exported/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
