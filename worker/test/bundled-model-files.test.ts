// The bundled model's files against today's Hugging Face Optimum Stable
// Diffusion ONNX export (optimum >= 1.24): its folder layout, its torch-style
// model_index.json and its tensor interface, read with plain onnxruntime-node
// sessions, not through the worker's pipeline (which adapts to other exports
// and would hide a difference).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from 'onnxruntime-node';

const MODEL_DIR = new URL('../../models/shapes-ldm/', import.meta.url).pathname;
const json = (rel: string): Record<string, unknown> => JSON.parse(readFileSync(join(MODEL_DIR, rel), 'utf8')) as Record<string, unknown>;
const signature = (meta: readonly InferenceSession.ValueMetadata[]) =>
  meta.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name }));

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => {
    if (name === 'recipe') return sum;
    const path = join(dir, name);
    const st = statSync(path);
    return sum + (st.isDirectory() ? folderBytes(path) : st.size);
  }, 0);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe("the bundled model's files follow today's Optimum ONNX interface", () => {
  const sessions: Record<string, InferenceSession> = {};
  beforeAll(async () => {
    for (const part of ['text_encoder', 'unet', 'vae_decoder']) {
      sessions[part] = await InferenceSession.create(join(MODEL_DIR, part, 'model.onnx'));
    }
  });
  afterAll(async () => {
    for (const s of Object.values(sessions)) await s.release();
  });

  it("has the torch pipeline's model_index.json (a vae entry, no vae_decoder entry) and stays under 10 MB", () => {
    const index = json('model_index.json');
    expect(index['_class_name']).toBe('StableDiffusionPipeline');
    expect(index).toMatchObject({
      text_encoder: ['transformers', 'CLIPTextModel'], tokenizer: ['transformers', 'CLIPTokenizer'],
      unet: ['diffusers', 'UNet2DConditionModel'], vae: ['diffusers', 'AutoencoderKL'], scheduler: ['diffusers', 'DDIMScheduler'],
    });
    expect(index).not.toHaveProperty('vae_decoder');
    expect(index).not.toHaveProperty('vae_encoder');
    for (const part of ['text_encoder', 'unet', 'vae_decoder']) {
      expect(existsSync(join(MODEL_DIR, part, 'model.onnx')), part).toBe(true);
      expect(json(`${part}/config.json`)).toBeTypeOf('object');
    }
    expect(folderBytes(MODEL_DIR)).toBeLessThan(10_000_000);
  });

  it('has a VAE config whose scale factor and latent channels are what the decoder does', async () => {
    const vae = json('vae_decoder/config.json');
    expect(vae['scaling_factor']).toBeGreaterThan(0);
    const scale = 2 ** ((vae['block_out_channels'] as number[]).length - 1); // as diffusers derives it
    const channels = vae['latent_channels'] as number;
    const out = (await sessions['vae_decoder']!.run({ latent_sample: new Tensor('float32', new Float32Array(channels * 8 * 8), [1, channels, 8, 8]) }))['sample']!;
    expect(out.dims).toEqual([1, 3, 8 * scale, 8 * scale]);
  });

  it('has the scheduler the issue names: scaled_linear 0.00085–0.012, 1000 train steps, epsilon', () => {
    const s = json('scheduler/scheduler_config.json');
    expect(s).toMatchObject({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000, prediction_type: 'epsilon' });
  });

  it('has a CLIP-format tokenizer: vocab.json with the two special tokens and </w> word ends, merges.txt, both JSON configs', () => {
    const vocab = json('tokenizer/vocab.json') as Record<string, number>;
    expect(vocab['<|startoftext|>']).toBeTypeOf('number');
    expect(vocab['<|endoftext|>']).toBeTypeOf('number');
    expect(vocab['circle</w>']).toBeTypeOf('number');
    const merges = readFileSync(join(MODEL_DIR, 'tokenizer/merges.txt'), 'utf8').split('\n');
    expect(merges[0]).toMatch(/^#version/);
    expect(merges.slice(1).filter((l) => l.trim() !== '').every((l) => l.split(' ').length === 2)).toBe(true);
    expect(json('tokenizer/tokenizer_config.json')['model_max_length']).toBe(77);
    expect(json('tokenizer/special_tokens_map.json')).toMatchObject({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>' });
  });

  it('text_encoder: input_ids int64 [batch_size, 77] -> last_hidden_state, pooler_output', () => {
    const te = sessions['text_encoder']!;
    expect(signature(te.inputMetadata)).toEqual([{ name: 'input_ids', type: 'int64', shape: ['batch_size', 77] }]);
    expect(te.outputNames).toEqual(['last_hidden_state', 'pooler_output']);
  });

  it('unet: sample [batch_size, 4, h, w], timestep a float32 scalar, encoder_hidden_states -> out_sample', () => {
    const unet = sessions['unet']!;
    expect(signature(unet.inputMetadata)).toEqual([
      { name: 'sample', type: 'float32', shape: ['batch_size', 4, 'height', 'width'] },
      { name: 'timestep', type: 'float32', shape: [] },
      { name: 'encoder_hidden_states', type: 'float32', shape: ['batch_size', 77, 128] },
    ]);
    expect(unet.outputNames).toEqual(['out_sample']);
  });

  it('unet: one scalar timestep serves a batch of 3, each row as it comes out alone', async () => {
    const unet = sessions['unet']!;
    const eos = (json('tokenizer/vocab.json') as Record<string, number>)['<|endoftext|>']!;
    const empty = (await sessions['text_encoder']!.run({ input_ids: new Tensor('int64', new BigInt64Array(77).fill(BigInt(eos)), [1, 77]) }))['last_hidden_state']!;
    const hidden = empty.data as Float32Array;
    const per = 4 * 8 * 8;
    const latents = Float32Array.from({ length: 3 * per }, (_, i) => Math.sin(i * 0.37));
    const run = async (sample: Float32Array, t: number) => {
      const n = sample.length / per;
      const out = await unet.run({
        sample: new Tensor('float32', sample, [n, 4, 8, 8]),
        timestep: new Tensor('float32', Float32Array.of(t), []),
        encoder_hidden_states: new Tensor('float32', Float32Array.from({ length: n * hidden.length }, (_, i) => hidden[i % hidden.length]!), [n, 77, hidden.length / 77]),
      });
      return out['out_sample']!.data as Float32Array;
    };
    const together = await run(latents, 500);
    for (let r = 0; r < 3; r++) {
      const alone = await run(latents.slice(r * per, (r + 1) * per), 500);
      // onnxruntime blocks its matrix products by batch size: the last bits may differ
      expect(maxDiff(together.slice(r * per, (r + 1) * per), alone), `row ${r}`).toBeLessThan(1e-5);
    }
    // the timestep reaches the output: the same rows at another step differ
    expect(maxDiff(together, await run(latents, 999))).toBeGreaterThan(1e-3);
  });

  it('vae_decoder: latent_sample [batch_size, 4, h, w] -> sample [batch_size, 3, 8h, 8w]', async () => {
    const vae = sessions['vae_decoder']!;
    expect(signature(vae.inputMetadata)).toEqual([{ name: 'latent_sample', type: 'float32', shape: ['batch_size', 4, 'latent_height', 'latent_width'] }]);
    expect(vae.outputNames).toEqual(['sample']);
    const out = (await vae.run({ latent_sample: new Tensor('float32', new Float32Array(2 * 4 * 8 * 8), [2, 4, 8, 8]) }))['sample']!;
    expect(out.dims).toEqual([2, 3, 64, 64]);
  });
});
