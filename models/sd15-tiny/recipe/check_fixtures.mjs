// Checks the three sd15-tiny fixtures with onnxruntime-node (make_fixtures.py runs it):
//   node models/sd15-tiny/recipe/check_fixtures.mjs FIXTURES_DIR REF_DIR
// REF_DIR holds make_fixtures.py's inputs and the torch modules' outputs (raw
// float32) and the Optimum UNet with its timestep Unsqueeze made a Reshape.
// Fails (exit 1) on the first mismatch; prints every measured difference.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(join(process.cwd(), 'package.json'));
const { InferenceSession, Tensor } = require('onnxruntime-node');

const [fixtures, refDir] = process.argv.slice(2);
const ref = JSON.parse(readFileSync(join(refDir, 'ref.json'), 'utf8'));
const bin = (name) => {
  const b = readFileSync(join(refDir, `${name}.bin`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const maxDiff = (a, b) => {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const check = (what, d, tol) => {
  console.log(`  ${what}: max |Δ| ${d.toExponential(2)}${tol === 0 ? ' (must be 0)' : ` (≤ ${tol})`}`);
  if (!(d <= tol)) throw new Error(`${what}: ${d} > ${tol}`);
};

const FORMATS = {
  'sd15-tiny-optimum': { ids: 'int64', timestep: (t, n) => new Tensor('float32', Float32Array.of(t), []), encoderOut: 'latent_parameters' },
  'sd15-tiny-optimum-1.23': { ids: 'int64', timestep: (t, n) => new Tensor('int64', new BigInt64Array(n).fill(BigInt(t)), [n]), encoderOut: 'latent_parameters' },
  'sd15-tiny-diffusers-onnx': { ids: 'int32', timestep: (t, n) => new Tensor('float32', new Float32Array(n).fill(t), [n]), encoderOut: 'latent_sample' },
};
const idsTensor = (type, rows) => {
  const flat = rows.flat();
  return type === 'int64'
    ? new Tensor('int64', BigInt64Array.from(flat.map(BigInt)), [rows.length, rows[0].length])
    : new Tensor('int32', Int32Array.from(flat), [rows.length, rows[0].length]);
};
const repeatRows = (row, n) => Float32Array.from({ length: n * row.length }, (_, i) => row[i % row.length]);

// DDIM (SD 1.5 schedule, "leading" spacing, steps_offset 1), CFG: the same picture must come out of every format.
function alphasCumprod() {
  const out = new Float64Array(1000);
  let p = 1;
  for (let i = 0; i < 1000; i++) {
    const b = (Math.sqrt(0.00085) + (Math.sqrt(0.012) - Math.sqrt(0.00085)) * i / 999) ** 2;
    p *= 1 - b;
    out[i] = p;
  }
  return out;
}
async function render(s, fmt, noise, steps = 5, cfg = 7.5) {
  const ac = alphasCumprod();
  const te = await s.text_encoder.run({ input_ids: idsTensor(fmt.ids, [ref.ids[1], ref.ids[0]]) });
  const hidden = te.last_hidden_state; // [uncond, cond]
  const ratio = Math.floor(1000 / steps);
  let x = Float32Array.from(noise);
  const n = x.length;
  for (let k = steps - 1; k >= 0; k--) {
    const t = k * ratio + 1;
    const out = await s.unet.run({
      sample: new Tensor('float32', Float32Array.from({ length: 2 * n }, (_, i) => x[i % n]), [2, 4, 8, 8]),
      timestep: fmt.timestep(t, 2),
      encoder_hidden_states: hidden,
    });
    const e = out.out_sample.data;
    const a = ac[t];
    const aPrev = t - ratio >= 0 ? ac[t - ratio] : ac[0];
    x = Float32Array.from(x, (v, i) => {
      const eps = e[i] + cfg * (e[n + i] - e[i]);
      const x0 = (v - Math.sqrt(1 - a) * eps) / Math.sqrt(a);
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps;
    });
  }
  const img = (await s.vae_decoder.run({ latent_sample: new Tensor('float32', x.map((v) => v / ref.scaling_factor), [1, 4, 8, 8]) })).sample.data;
  return Uint8Array.from(img, (v) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255));
}

const describe = (meta) => meta.map((m) => `${m.name} ${m.type} [${m.shape.join(', ')}]`).join('; ');
const sample3 = bin('sample');
const per = sample3.length / 3;
const renders = {};
const teOut = {};
for (const [name, fmt] of Object.entries(FORMATS)) {
  console.log(name);
  const s = {};
  for (const part of ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder']) {
    s[part] = await InferenceSession.create(join(fixtures, name, part, 'model.onnx'));
    console.log(`  ${part}: ${describe(s[part].inputMetadata)} -> ${describe(s[part].outputMetadata)}`);
  }
  const te = await s.text_encoder.run({ input_ids: idsTensor(fmt.ids, ref.ids) });
  check('text_encoder last_hidden_state vs torch', maxDiff(te.last_hidden_state.data, bin('last_hidden_state')), 1e-5);
  check('text_encoder pooler_output vs torch', maxDiff(te.pooler_output.data, bin('pooler_output')), 1e-5);
  teOut[name] = te.last_hidden_state.data;
  const unet = await s.unet.run({
    sample: new Tensor('float32', sample3, [3, 4, 8, 8]), timestep: fmt.timestep(ref.timestep, 3),
    encoder_hidden_states: new Tensor('float32', bin('hidden'), [3, 77, 32]),
  });
  check(`unet batch 3 at t=${ref.timestep} vs torch`, maxDiff(unet.out_sample.data, bin('out_sample')), 1e-4);
  const dec = await s.vae_decoder.run({ latent_sample: new Tensor('float32', sample3.map((v) => v / ref.scaling_factor), [3, 4, 8, 8]) });
  check('vae_decoder vs torch', maxDiff(dec.sample.data, bin('decoded')), 1e-4);
  const enc = await s.vae_encoder.run({ sample: new Tensor('float32', bin('image'), [1, 3, 64, 64]) });
  const z = enc[fmt.encoderOut];
  if (fmt.encoderOut === 'latent_parameters') check('vae_encoder latent_parameters vs torch', maxDiff(z.data, bin('latent_parameters')), 1e-4);
  else console.log(`  vae_encoder latent_sample (a random draw) dims [${z.dims.join(', ')}]`);
  renders[name] = await render(s, fmt, sample3.slice(0, per));
  for (const x of Object.values(s)) await x.release();
}

console.log('the same prompt and noise through each format (DDIM 5 steps, CFG 7.5, 64×64)');
const names = Object.keys(FORMATS);
for (const other of names.slice(1)) {
  check(`text_encoder ${other} vs ${names[0]}`, maxDiff(teOut[other], teOut[names[0]]), 0);
  check(`image ${other} vs ${names[0]} (uint8 levels)`, maxDiff(renders[other], renders[names[0]]), 0);
}
const img = renders[names[0]];
const levels = new Set(img).size;
console.log(`  image: ${levels} distinct levels, mean ${(img.reduce((a, b) => a + b, 0) / img.length).toFixed(1)}`);
if (levels < 32) throw new Error('the picture is (nearly) flat: the check would not see a difference');

console.log('sd15-tiny-optimum UNet with Unsqueeze(timestep) replaced by Reshape(timestep, [-1]), timestep [batch_size]');
const plain = await InferenceSession.create(join(fixtures, 'sd15-tiny-optimum', 'unet', 'model.onnx'));
const adapted = await InferenceSession.create(join(refDir, 'unet-adapted.onnx'));
console.log(`  adapted: ${describe(adapted.inputMetadata)}`);
const hiddenRow = bin('hidden').slice(0, 77 * 32);
const ts = [999, 500, 1];
const together = (await adapted.run({
  sample: new Tensor('float32', sample3, [3, 4, 8, 8]), timestep: new Tensor('float32', Float32Array.from(ts), [3]),
  encoder_hidden_states: new Tensor('float32', repeatRows(hiddenRow, 3), [3, 77, 32]),
})).out_sample.data;
for (const [r, t] of ts.entries()) {
  const alone = (await plain.run({
    sample: new Tensor('float32', sample3.slice(r * per, (r + 1) * per), [1, 4, 8, 8]), timestep: new Tensor('float32', Float32Array.of(t), []),
    encoder_hidden_states: new Tensor('float32', hiddenRow, [1, 77, 32]),
  })).out_sample.data;
  check(`row ${r} (t=${t}) in one call vs alone`, maxDiff(together.slice(r * per, (r + 1) * per), alone), 0);
}
// the same latent in every row: only the per-row timestep can make rows differ
const same = (await adapted.run({
  sample: new Tensor('float32', repeatRows(sample3.slice(0, per), 3), [3, 4, 8, 8]), timestep: new Tensor('float32', Float32Array.from(ts), [3]),
  encoder_hidden_states: new Tensor('float32', repeatRows(hiddenRow, 3), [3, 77, 32]),
})).out_sample.data;
const rowDiff = maxDiff(same.slice(0, per), same.slice(per, 2 * per));
console.log(`  same latent, t=999 vs t=500 rows differ by ${rowDiff.toExponential(2)}`);
if (!(rowDiff > 1e-3)) throw new Error('rows at different timesteps came out equal: the timestep is not per row');
await plain.release();
await adapted.release();
console.log('all fixture checks passed');
