// Builds small ONNX models byte by byte for tests of the graph editor: real
// models onnxruntime loads and runs, with exactly the structure a test needs.
import { concatBytes, lenField, stringField, varintField } from '../src/pipeline/protobuf-wire.js';

export const FLOAT = 1;
export const INT64 = 7;

export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[] | undefined): Uint8Array {
  const shape = dims === undefined ? [] : [lenField(2, concatBytes(dims.map((d) =>
    lenField(1, typeof d === 'number' ? varintField(1, d) : stringField(2, d)))))];
  const tensorType = concatBytes([varintField(1, elemType), ...shape]);
  return concatBytes([stringField(1, name), lenField(2, lenField(1, tensorType))]);
}

export function intsAttribute(name: string, ints: readonly number[]): Uint8Array {
  // Unpacked, as onnx's Python helper writes them; the packed form is covered by int64 tensors.
  return concatBytes([stringField(1, name), varintField(20, 7), ...ints.map((i) => varintField(8, i))]);
}

export function tensorAttribute(name: string, tensor: Uint8Array): Uint8Array {
  return concatBytes([stringField(1, name), varintField(20, 4), lenField(5, tensor)]);
}

/** An int64 tensor; `packed` writes int64_data instead of raw_data. */
export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length], packed = false): Uint8Array {
  const data = packed
    ? lenField(7, concatBytes(values.map((v) => varintField(1, v).subarray(1))))
    : (() => {
        const raw = new Uint8Array(values.length * 8);
        values.forEach((v, i) => new DataView(raw.buffer).setBigInt64(i * 8, BigInt(v), true));
        return lenField(9, raw);
      })();
  return concatBytes([...dims.map((d) => varintField(1, d)), varintField(2, INT64), stringField(8, name), data]);
}

export function node(opType: string, inputs: readonly string[], outputs: readonly string[], name = '', attributes: readonly Uint8Array[] = []): Uint8Array {
  return concatBytes([
    ...inputs.map((i) => stringField(1, i)), ...outputs.map((o) => stringField(2, o)),
    ...(name !== '' ? [stringField(3, name)] : []), stringField(4, opType), ...attributes.map((a) => lenField(5, a)),
  ]);
}

/** A float tensor whose data lies in `location` (beside the model), at offset 0. */
export function externalFloatTensor(name: string, dims: readonly number[], location: string): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  const entry = (key: string, value: string) => lenField(13, concatBytes([stringField(1, key), stringField(2, value)]));
  return concatBytes([
    ...dims.map((d) => varintField(1, d)), varintField(2, FLOAT), stringField(8, name),
    entry('location', location), entry('offset', '0'), entry('length', String(count * 4)), varintField(14, 1),
  ]);
}

export function floatTensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): Uint8Array {
  const raw = new Uint8Array(Float32Array.from(values).buffer);
  return concatBytes([...dims.map((d) => varintField(1, d)), varintField(2, FLOAT), stringField(8, name), lenField(9, raw)]);
}

export interface Graph {
  opset: number;
  nodes: readonly Uint8Array[];
  inputs: readonly Uint8Array[];
  outputs: readonly Uint8Array[];
  initializers?: readonly Uint8Array[];
  valueInfo?: readonly Uint8Array[];
}

export function model(g: Graph): Uint8Array {
  const graph = concatBytes([
    ...g.nodes.map((n) => lenField(1, n)), stringField(2, 'tiny'), ...(g.initializers ?? []).map((t) => lenField(5, t)),
    ...g.inputs.map((i) => lenField(11, i)), ...g.outputs.map((o) => lenField(12, o)), ...(g.valueInfo ?? []).map((v) => lenField(13, v)),
  ]);
  return concatBytes([
    varintField(1, 8), stringField(2, 'latentfarm-test'), lenField(7, graph),
    lenField(8, concatBytes([stringField(1, ''), varintField(2, g.opset)])),
  ]);
}

export type UnsqueezeForm = 'axes-input' | 'axes-constant-node' | 'axes-attribute';

/**
 * A stand-in UNet with the interface of today's Optimum export: a scalar
 * float `timestep` whose only use is `Unsqueeze(timestep, [0])`, broadcast
 * over the batch; out_sample = sample × gain + timestep (per row), gain = 2
 * or the float32 in the file `externalGain` beside the model.
 */
export function scalarTimestepUnet(form: UnsqueezeForm = 'axes-input', options: {
  axes?: readonly number[]; timestepDims?: readonly (number | string)[]; extraConsumer?: boolean; pinUnsqueezed?: boolean; externalGain?: string;
} = {}): Uint8Array {
  const axes = options.axes ?? [0];
  const opset = form === 'axes-attribute' ? 11 : 17;
  const unsqueeze = form === 'axes-attribute'
    ? node('Unsqueeze', ['timestep'], ['t_vec'], '/time/Unsqueeze', [intsAttribute('axes', axes)])
    : node('Unsqueeze', ['timestep', 'axes'], ['t_vec'], '/time/Unsqueeze');
  const axesSource = form === 'axes-constant-node' ? [node('Constant', [], ['axes'], '/time/Constant', [tensorAttribute('value', int64Tensor('', axes, [axes.length], true))])] : [];
  const initializers = [
    ...(form === 'axes-input' ? [int64Tensor('axes', axes)] : []),
    int64Tensor('zero', [0]), int64Tensor('one', [1]), int64Tensor('per_row', [-1, 1, 1, 1]),
    options.externalGain !== undefined ? externalFloatTensor('gain', [1], options.externalGain) : floatTensor('gain', [2]),
  ];
  const nodes = [
    ...axesSource, unsqueeze,
    node('Shape', ['sample'], ['sample_shape']),
    // Opset 11 Slice takes starts/ends as inputs too (since opset 10).
    node('Slice', ['sample_shape', 'zero', 'one'], ['batch']),
    node('Expand', ['t_vec', 'batch'], ['t_batch']),
    node('Reshape', ['t_batch', 'per_row'], ['t_rows']),
    node('Mul', ['sample', 'gain'], ['twice']),
    node('Add', ['twice', 't_rows'], options.extraConsumer === true ? ['partial'] : ['out_sample']),
    ...(options.extraConsumer === true ? [node('Add', ['partial', 'timestep'], ['out_sample'])] : []),
  ];
  return model({
    opset, nodes, initializers,
    inputs: [
      valueInfo('sample', FLOAT, ['batch', 4, 'h', 'w']),
      valueInfo('timestep', FLOAT, options.timestepDims ?? []),
      valueInfo('encoder_hidden_states', FLOAT, ['batch', 'seq', 8]),
    ],
    outputs: [valueInfo('out_sample', FLOAT, ['batch', 4, 'h', 'w'])],
    valueInfo: options.pinUnsqueezed === true ? [valueInfo('t_vec', FLOAT, [1])] : [],
  });
}
