// Prompt faithfulness of the bundled model through onnxruntime-node: renders
// the recipe's held-out evaluation prompts (DDIM 25 steps, CFG 5), classifies
// each image, prints the accuracy table, and writes the PNGs with a manifest
// that the recipe's own classifier reads (models/shapes-ldm/recipe/eval.py).
//   node --conditions=@latentfarm/source --import tsx worker/bench/eval-model.ts [out-dir]
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng } from '../src/image/png.js';
import { classify } from '../test/shapes-classifier.js';
import { engine, MODEL_DIR, render } from './render.js';

interface EvalPrompt { prompt: string; color: string; shape: string; background: string; split: string; seed: number }

const out = process.argv[2] ?? 'out/eval-shapes-ldm';
await mkdir(out, { recursive: true });
const prompts = JSON.parse(await readFile(join(MODEL_DIR, 'recipe/eval_prompts.json'), 'utf8')) as EvalPrompt[];
const e = await engine(16);
const t0 = performance.now();
const images = await Promise.all(prompts.map((p) => render(e, { prompt: p.prompt, seed: p.seed })));
const seconds = (performance.now() - t0) / 1000;
const tally = new Map<string, { n: number; color: number; background: number; shape: number }>();
const manifest = [];
for (let i = 0; i < prompts.length; i++) {
  const p = prompts[i] as EvalPrompt;
  const img = images[i]!;
  const file = `${String(i).padStart(3, '0')}.png`;
  await writeFile(join(out, file), img.image);
  manifest.push({ file, ...p });
  const got = classify(decodePng(img.image).rgb, 64);
  for (const split of ['all', p.split]) {
    const t = tally.get(split) ?? { n: 0, color: 0, background: 0, shape: 0 };
    t.n++;
    t.color += +(got.color === p.color);
    t.background += +(got.background === p.background);
    t.shape += +(got.shape === p.shape);
    tally.set(split, t);
  }
}
await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest, null, 1));
const pct = (x: number, n: number) => `${((100 * x) / n).toFixed(1)}%`.padStart(7);
process.stdout.write(`${prompts.length} images in ${seconds.toFixed(1)} s (DDIM 25 steps, CFG 5, onnxruntime-node cpu)\nsplit              n   colour  backgr.   shape\n`);
for (const [split, t] of tally) process.stdout.write(`${split.padEnd(16)} ${String(t.n).padStart(3)} ${pct(t.color, t.n)} ${pct(t.background, t.n)} ${pct(t.shape, t.n)}\n`);
process.stdout.write(`images and manifest in ${out}/ (score them with: /usr/bin/python3 models/shapes-ldm/recipe/eval.py classify ${out}/manifest.json)\n`);
