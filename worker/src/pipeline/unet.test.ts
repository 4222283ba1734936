// The UNet wrapper against a stand-in session: per-sample timesteps go in one
// call; a single-timestep export gets one call per distinct timestep, with
// rows put back in order.
import { describe, expect, it } from 'vitest';
import { Tensor, type InferenceSession } from 'onnxruntime-node';
import { Unet } from './unet.js';

function fakeSession(timestepShape: (number | string)[], timestepType: 'int64' | 'float32') {
  const calls: { timesteps: number[]; rows: number }[] = [];
  const session = {
    inputNames: ['sample', 'timestep', 'encoder_hidden_states'],
    outputNames: ['out_sample'],
    inputMetadata: [
      { name: 'sample', isTensor: true, type: 'float32', shape: ['batch', 4, 'h', 'w'] },
      { name: 'timestep', isTensor: true, type: timestepType, shape: timestepShape },
      { name: 'encoder_hidden_states', isTensor: true, type: 'float32', shape: ['batch', 77, 8] },
    ],
    // out = sample * 10 + timestep: rows stay identifiable.
    run: (feeds: Record<string, Tensor>) => {
      const sample = feeds['sample'] as Tensor;
      const t = feeds['timestep'] as Tensor;
      const ts = Array.from(t.data as ArrayLike<number | bigint>, Number);
      const n = sample.dims[0] as number;
      calls.push({ timesteps: ts, rows: n });
      const per = (sample.data as Float32Array).length / n;
      const out = Float32Array.from(sample.data as Float32Array, (v, i) => v * 10 + (ts.length === 1 ? ts[0]! : ts[Math.floor(i / per)]!));
      return Promise.resolve({ out_sample: new Tensor('float32', out, sample.dims) });
    },
  };
  return { session: session as unknown as InferenceSession, calls };
}

const rows = (timesteps: number[]) => {
  const per = 4 * 1 * 1;
  return {
    sample: Float32Array.from({ length: timesteps.length * per }, (_, i) => Math.floor(i / per)),
    timesteps, hidden: new Float32Array(timesteps.length * 77 * 8), latentShape: [4, 1, 1] as const, seqLen: 77,
  };
};

describe('Unet', () => {
  it('sends rows at different timesteps in one call when the export takes a timestep per sample', async () => {
    const { session, calls } = fakeSession(['batch'], 'int64');
    const unet = new Unet(session, 'unet/model.onnx');
    expect(unet.perSampleTimestep).toBe(true);
    const out = await unet.run(rows([981, 961, 981]));
    expect(calls).toEqual([{ timesteps: [981, 961, 981], rows: 3 }]);
    expect(Array.from(out.filter((_, i) => i % 4 === 0))).toEqual([981, 971, 1001]);
  });

  it('falls back to one call per distinct timestep for a single-timestep export', async () => {
    const { session, calls } = fakeSession([1], 'float32');
    const unet = new Unet(session, 'unet/model.onnx');
    expect(unet.perSampleTimestep).toBe(false);
    const out = await unet.run(rows([981, 961, 981, 941]));
    expect(calls.map((c) => c.rows).sort()).toEqual([1, 1, 2]);
    expect(calls.every((c) => c.timesteps.length === 1)).toBe(true);
    expect(Array.from(out.filter((_, i) => i % 4 === 0))).toEqual([981, 971, 1001, 971]);
  });

  it('names the file and the missing input of a model that is not a UNet', () => {
    const { session } = fakeSession(['batch'], 'int64');
    const bad = { ...session, inputMetadata: session.inputMetadata.slice(1), inputNames: ['timestep', 'encoder_hidden_states'] } as unknown as InferenceSession;
    expect(() => new Unet(bad, 'x/unet/model.onnx')).toThrow('x/unet/model.onnx: has no input "sample" (inputs: timestep, encoder_hidden_states)');
  });
});
