// upgrade_interface.py's check: the shipped files before and after the interface
// change give the same outputs for the same inputs, with onnxruntime-node.
//   node models/shapes-ldm/recipe/check_upgrade.mjs OLD_DIR NEW_DIR ADAPTED_UNET
// OLD_DIR: the three parts as they were (int32 ids, int64 [steps] timestep);
// NEW_DIR: the upgraded folder; ADAPTED_UNET: the new UNet with its timestep
// Unsqueeze made a Reshape to [-1] (what the worker does at load).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(join(process.cwd(), 'package.json'));
const { InferenceSession, Tensor } = require('onnxruntime-node');

const [oldDir, newDir, adaptedPath] = process.argv.slice(2);
const open = (dir, part) => InferenceSession.create(join(dir, part, 'model.onnx'));
const maxDiff = (a, b) => {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
// Old against new file: exactly equal. A row of a batch against the same row
// alone: onnxruntime blocks its matrix products by batch size, so the last bits
// may differ (they do in the old file too).
const same = (what, a, b, tol = 0) => {
  const d = maxDiff(a, b);
  console.log(`  ${what}: max |Δ| ${d.toExponential(2)}${tol === 0 ? ' (must be 0)' : ` (≤ ${tol})`}`);
  if (!(d <= tol)) throw new Error(`${what}: outputs differ by ${d}`);
};
const describe = (s) => [s.inputMetadata, s.outputMetadata].map((meta) => meta.map((m) => `${m.name} ${m.type} [${m.shape.join(', ')}]`).join('; ')).join(' -> ');
const rows = (row, n) => Float32Array.from({ length: n * row.length }, (_, i) => row[i % row.length]);

// A few real prompts' ids, from the recipe's tokenizer fixtures.
const fx = JSON.parse(readFileSync(join(newDir, 'recipe', 'tokenizer_fixtures.json'), 'utf8')).fixtures.slice(0, 4);
const ids = fx.map((f) => f.input_ids);
const n = ids.length;

console.log('text_encoder');
const [teOld, teNew] = [await open(oldDir, 'text_encoder'), await open(newDir, 'text_encoder')];
console.log(`  old ${describe(teOld)}\n  new ${describe(teNew)}`);
const a = await teOld.run({ input_ids: new Tensor('int32', Int32Array.from(ids.flat()), [n, 77]) });
const b = await teNew.run({ input_ids: new Tensor('int64', BigInt64Array.from(ids.flat().map(BigInt)), [n, 77]) });
same(`last_hidden_state, ${n} prompts`, a.last_hidden_state.data, b.last_hidden_state.data);
same(`pooler_output, ${n} prompts`, a.pooler_output.data, b.pooler_output.data);
const hidden = b.last_hidden_state.data;
const per = 4 * 8 * 8;
const latents = Float32Array.from({ length: n * per }, (_, i) => Math.sin(i * 0.37) * 1.3);

console.log('unet');
const [unOld, unNew] = [await open(oldDir, 'unet'), await open(newDir, 'unet')];
console.log(`  old ${describe(unOld)}\n  new ${describe(unNew)}`);
const feeds = (k, timestep) => ({
  sample: new Tensor('float32', latents.slice(0, k * per), [k, 4, 8, 8]), timestep,
  encoder_hidden_states: new Tensor('float32', hidden.slice(0, k * 77 * 128), [k, 77, 128]),
});
for (const t of [1, 500, 999]) {
  const scalar = (await unNew.run(feeds(n, new Tensor('float32', Float32Array.of(t), [])))).out_sample.data;
  const perSample = (await unOld.run(feeds(n, new Tensor('int64', new BigInt64Array(n).fill(BigInt(t)), [n])))).out_sample.data;
  const broadcast = (await unOld.run(feeds(n, new Tensor('int64', BigInt64Array.of(BigInt(t)), [1])))).out_sample.data;
  same(`batch ${n}, new scalar t=${t} vs old [${n}] timesteps`, scalar, perSample);
  same(`batch ${n}, new scalar t=${t} vs old [1] timestep`, scalar, broadcast);
  for (let r = 0; r < n; r++) {
    const alone = (await unNew.run({
      sample: new Tensor('float32', latents.slice(r * per, (r + 1) * per), [1, 4, 8, 8]), timestep: new Tensor('float32', Float32Array.of(t), []),
      encoder_hidden_states: new Tensor('float32', hidden.slice(r * 77 * 128, (r + 1) * 77 * 128), [1, 77, 128]),
    })).out_sample.data;
    same(`  row ${r} of the batch vs alone (t=${t})`, scalar.slice(r * per, (r + 1) * per), alone, 1e-5);
  }
}
console.log('unet with Unsqueeze(timestep) -> Reshape(timestep, [-1]), timestep [batch_size]');
const adapted = await InferenceSession.create(adaptedPath);
console.log(`  adapted ${describe(adapted)}`);
const ts = [999, 500, 250, 1].slice(0, n);
const together = (await adapted.run(feeds(n, new Tensor('float32', Float32Array.from(ts), [n])))).out_sample.data;
const oldTogether = (await unOld.run(feeds(n, new Tensor('int64', BigInt64Array.from(ts.map(BigInt)), [n])))).out_sample.data;
same(`batch ${n} at timesteps [${ts}] vs the old file's per-sample call`, together, oldTogether);

console.log('vae_decoder');
const [vOld, vNew] = [await open(oldDir, 'vae_decoder'), await open(newDir, 'vae_decoder')];
console.log(`  old ${describe(vOld)}\n  new ${describe(vNew)}`);
const z = new Tensor('float32', latents, [n, 4, 8, 8]);
same(`batch ${n}`, (await vOld.run({ latent_sample: z })).sample.data, (await vNew.run({ latent_sample: z })).sample.data);
const z16 = new Tensor('float32', rows(latents.slice(0, per), 4), [1, 4, 16, 16]);
same('16×16 latent', (await vOld.run({ latent_sample: z16 })).sample.data, (await vNew.run({ latent_sample: z16 })).sample.data);
for (const s of [teOld, teNew, unOld, unNew, adapted, vOld, vNew]) await s.release();
console.log('the upgraded files give the same outputs as before');
