// The wire-level timestep adaptation on small real models, run by onnxruntime.
import { describe, expect, it } from 'vitest';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { scalarTimestepUnet, type UnsqueezeForm } from '../../test/tiny-onnx.js';
import { adaptScalarTimestep, declaredShape } from './onnx-graph.js';
import { readFields, strings } from './protobuf-wire.js';

const sample = (rows: number) => Float32Array.from({ length: rows * 4 * 2 * 2 }, (_, i) => i * 0.25 - 3);
const hidden = (rows: number) => new Float32Array(rows * 3 * 8);

async function run(bytes: Uint8Array, rows: number, timesteps: readonly number[], scalar: boolean): Promise<Float32Array> {
  const session = await InferenceSession.create(bytes);
  const out = await session.run({
    sample: new Tensor('float32', sample(rows), [rows, 4, 2, 2]),
    timestep: new Tensor('float32', Float32Array.from(timesteps), scalar ? [] : [timesteps.length]),
    encoder_hidden_states: new Tensor('float32', hidden(rows), [rows, 3, 8]),
  });
  return (out['out_sample'] as Tensor).data as Float32Array;
}

function inputShape(bytes: Uint8Array, name: string): (number | string)[] | undefined {
  const graph = readFields(readFields(bytes).find((f) => f.no === 7)!.bytes);
  const input = graph.find((f) => f.no === 11 && strings(readFields(f.bytes), 1)[0] === name)!;
  return declaredShape(readFields(input.bytes));
}

describe('adaptScalarTimestep', () => {
  it.each<[UnsqueezeForm]>([['axes-input'], ['axes-constant-node'], ['axes-attribute']])(
    'Unsqueeze with %s: one call with timesteps [999, 500, 1] equals the three single calls', async (form) => {
      const original = scalarTimestepUnet(form);
      const result = adaptScalarTimestep(original);
      if (!result.adapted) throw new Error(result.reason);
      expect(result.replacedNode).toBe('/time/Unsqueeze');
      expect(inputShape(result.bytes, 'timestep')).toEqual(['batch_size']);
      expect(inputShape(result.bytes, 'sample')).toEqual(['batch', 4, 'h', 'w']);

      const ts = [999, 500, 1];
      const together = await run(result.bytes, 3, ts, false);
      const per = together.length / 3;
      for (const [row, t] of ts.entries()) {
        // The original, fed one scalar timestep for all three rows; row `row` is the one at `t`.
        const single = await run(original, 3, [t], true);
        expect(Array.from(together.subarray(row * per, (row + 1) * per))).toEqual(Array.from(single.subarray(row * per, (row + 1) * per)));
      }
      // The adapted graph still takes a single timestep as [1] for a batch of one.
      expect(Array.from(await run(result.bytes, 1, [500], false))).toEqual(Array.from(await run(original, 1, [500], true)));
    });

  it('accepts axes [-1] (a 10-byte negative varint in a packed int64 tensor)', async () => {
    const original = scalarTimestepUnet('axes-constant-node', { axes: [-1] });
    const result = adaptScalarTimestep(original);
    if (!result.adapted) throw new Error(result.reason);
    const out = await run(result.bytes, 2, [7, 9], false);
    expect([out[0], out[out.length - 1]]).toEqual([sample(2)[0]! * 2 + 7, sample(2)[out.length - 1]! * 2 + 9]);
  });

  it('drops a value_info that pins the Unsqueeze output to [1], so a batch of timesteps loads', async () => {
    const result = adaptScalarTimestep(scalarTimestepUnet('axes-input', { pinUnsqueezed: true }));
    if (!result.adapted) throw new Error(result.reason);
    const graph = readFields(readFields(result.bytes).find((f) => f.no === 7)!.bytes);
    expect(graph.filter((f) => f.no === 13)).toEqual([]);
    const out = await run(result.bytes, 2, [10, 20], false);
    expect(out[0]).toBe(sample(2)[0]! * 2 + 10);
    expect(out[out.length - 1]).toBe(sample(2)[out.length - 1]! * 2 + 20);
  });

  it.each([
    ['already per sample', scalarTimestepUnet('axes-input', { timestepDims: ['steps'] }), /declared \[steps\], not as a scalar/],
    ['[1] timestep', scalarTimestepUnet('axes-input', { timestepDims: [1] }), /declared \[1\], not as a scalar/],
    ['a second consumer', scalarTimestepUnet('axes-input', { extraConsumer: true }), /feeds 2 nodes \(Unsqueeze, Add\)/],
    ['two axes', scalarTimestepUnet('axes-attribute', { axes: [0, 1] }), /axes \[0, 1\]/],
  ])('leaves the model byte-identical when the pattern is not there: %s', (_name, bytes, reason) => {
    const copy = Uint8Array.from(bytes);
    const result = adaptScalarTimestep(bytes);
    expect(result.adapted).toBe(false);
    if (!result.adapted) expect(result.reason).toMatch(reason);
    expect(Buffer.from(bytes).equals(Buffer.from(copy))).toBe(true);
  });

  it('keeps every byte outside the edited node, input and new initializer', () => {
    const original = scalarTimestepUnet('axes-input');
    const result = adaptScalarTimestep(original);
    if (!result.adapted) throw new Error(result.reason);
    const fieldsOf = (b: Uint8Array) => readFields(readFields(b).find((f) => f.no === 7)!.bytes).map((f) => Buffer.from(f.bytes).toString('hex'));
    const before = fieldsOf(original);
    const after = fieldsOf(result.bytes);
    const changed = before.filter((f) => !after.includes(f));
    expect(changed).toHaveLength(3); // the Unsqueeze node, its axes (read by nothing else) and the timestep input
    expect(after.filter((f) => !before.includes(f))).toHaveLength(3); // the Reshape, the new input, the [-1] initializer
    const topOf = (b: Uint8Array) => readFields(b).filter((f) => f.no !== 7).map((f) => Buffer.from(b.subarray(f.start, f.end)).toString('hex'));
    expect(topOf(result.bytes)).toEqual(topOf(original));
  });
});
