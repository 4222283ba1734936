// In-memory edits of an ONNX model at the protobuf wire level. Today's
// Optimum exports declare the UNet's `timestep` as a scalar, and the graph's
// only use of it is `Unsqueeze(timestep, [0])`, whose [1] result is then
// broadcast over the batch. Replacing that node with `Reshape(timestep, [-1])`
// and declaring the input `[batch_size]` lets each row carry its own
// timestep, which continuous batching needs; for one timestep the result is
// the same [1] tensor. Every byte the edit does not touch is copied as it is,
// so the weights are never decoded.
import {
  WireType, concatBytes, encodeVarint, lenField, readFields, readPackedVarints, stringField, strings, tag, text, varintField, type WireField,
} from './protobuf-wire.js';

// Field numbers from onnx.proto.
const MODEL = { graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12, valueInfo: 13 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTR = { name: 1, i: 3, t: 5, g: 6, ints: 8, graphs: 11 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;
const TENSOR = { dims: 1, dataType: 2, int64Data: 7, name: 8, rawData: 9 } as const;
const INT64 = 7;

/** The dimension name given to the adapted timestep input. */
export const TIMESTEP_BATCH_DIM = 'batch_size';

export type TimestepAdaptation =
  | { readonly adapted: true; readonly bytes: Uint8Array; readonly replacedNode: string }
  | { readonly adapted: false; readonly reason: string };

interface Node {
  readonly field: WireField;
  readonly fields: WireField[];
  readonly inputs: string[];
  readonly outputs: string[];
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
}

function parseNode(field: WireField): Node {
  const fields = readFields(field.bytes);
  return {
    field, fields,
    inputs: strings(fields, NODE.input),
    outputs: strings(fields, NODE.output),
    name: strings(fields, NODE.name)[0] ?? '',
    opType: strings(fields, NODE.opType)[0] ?? '',
    domain: strings(fields, NODE.domain)[0] ?? '',
  };
}

/** Values of a repeated int64 field, packed or not. */
function int64s(fields: readonly WireField[], no: number): bigint[] {
  const out: bigint[] = [];
  for (const f of fields) {
    if (f.no !== no) continue;
    if (f.wireType === WireType.Varint) out.push(BigInt.asIntN(64, f.varint));
    else if (f.wireType === WireType.Len) out.push(...readPackedVarints(f.bytes).map((v) => BigInt.asIntN(64, v)));
  }
  return out;
}

/** An int64 tensor's values (raw little-endian or int64_data), or undefined when it is not one. */
function int64Tensor(tensorBytes: Uint8Array): bigint[] | undefined {
  const fields = readFields(tensorBytes);
  const type = fields.find((f) => f.no === TENSOR.dataType)?.varint;
  if (type !== BigInt(INT64)) return undefined;
  const raw = fields.find((f) => f.no === TENSOR.rawData);
  if (raw !== undefined) {
    if (raw.bytes.length % 8 !== 0) return undefined;
    const view = new DataView(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.length);
    return Array.from({ length: raw.bytes.length / 8 }, (_, i) => view.getBigInt64(i * 8, true));
  }
  return int64s(fields, TENSOR.int64Data);
}

function attributes(node: Node): Map<string, WireField[]> {
  const out = new Map<string, WireField[]>();
  for (const f of node.fields) {
    if (f.no !== NODE.attribute) continue;
    const attr = readFields(f.bytes);
    out.set(strings(attr, ATTR.name)[0] ?? '', attr);
  }
  return out;
}

/** The value of a constant int64 tensor named `name`: an initializer or a Constant node's output. */
function constantInt64s(name: string, graph: readonly WireField[], nodes: readonly Node[]): bigint[] | undefined {
  for (const f of graph) {
    if (f.no !== GRAPH.initializer) continue;
    const init = readFields(f.bytes);
    if (strings(init, TENSOR.name)[0] === name) return int64Tensor(f.bytes);
  }
  const producer = nodes.find((n) => n.outputs.includes(name));
  if (producer?.opType !== 'Constant') return undefined;
  const attrs = attributes(producer);
  const value = attrs.get('value')?.find((f) => f.no === ATTR.t);
  if (value !== undefined) return int64Tensor(value.bytes);
  const ints = attrs.get('value_ints');
  if (ints !== undefined) return int64s(ints, ATTR.ints);
  const one = attrs.get('value_int')?.find((f) => f.no === ATTR.i);
  return one !== undefined ? [BigInt.asIntN(64, one.varint)] : undefined;
}

/** Whether any node of a subgraph (If/Loop/Scan bodies, at any depth) reads `name`. */
function usedInSubgraphs(nodes: readonly Node[], name: string): boolean {
  for (const node of nodes) {
    for (const attr of attributes(node).values()) {
      for (const f of attr) {
        if (f.no !== ATTR.g && f.no !== ATTR.graphs) continue;
        const inner = readFields(f.bytes).filter((g) => g.no === GRAPH.node).map(parseNode);
        if (inner.some((n) => n.inputs.includes(name)) || usedInSubgraphs(inner, name)) return true;
      }
    }
  }
  return false;
}

/** Dimensions of a graph input as declared; undefined when its rank is unknown or it is not a tensor. */
export function declaredShape(valueInfo: readonly WireField[]): (number | string)[] | undefined {
  const type = valueInfo.find((f) => f.no === VALUE_INFO.type);
  const tensor = type && readFields(type.bytes).find((f) => f.no === TYPE.tensorType);
  const shape = tensor && readFields(tensor.bytes).find((f) => f.no === TENSOR_TYPE.shape);
  if (shape === undefined) return undefined;
  return readFields(shape.bytes).filter((f) => f.no === SHAPE.dim).map((d) => {
    const dim = readFields(d.bytes);
    const value = dim.find((f) => f.no === DIM.value);
    if (value !== undefined) return Number(value.varint);
    const param = dim.find((f) => f.no === DIM.param);
    return param !== undefined ? text(param) : '?';
  });
}

/** The ValueInfoProto `valueInfo` with its tensor shape replaced by [dimParam]; other bytes kept. */
function withBatchShape(valueInfo: readonly WireField[], source: Uint8Array, dimParam: string): Uint8Array {
  const shape = lenField(TENSOR_TYPE.shape, lenField(SHAPE.dim, stringField(DIM.param, dimParam)));
  const replace = (fields: readonly WireField[], bytes: Uint8Array, no: number, payload: (f: WireField) => Uint8Array): Uint8Array =>
    concatBytes(fields.map((f) => (f.no === no ? lenField(no, payload(f)) : bytes.subarray(f.start, f.end))));
  return replace(valueInfo, source, VALUE_INFO.type, (type) =>
    replace(readFields(type.bytes), type.bytes, TYPE.tensorType, (tensor) => {
      const fields = readFields(tensor.bytes).filter((f) => f.no !== TENSOR_TYPE.shape);
      return concatBytes([...fields.map((f) => tensor.bytes.subarray(f.start, f.end)), shape]);
    }));
}

function int64Initializer(name: string, values: readonly bigint[]): Uint8Array {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return concatBytes([varintField(TENSOR.dims, values.length), varintField(TENSOR.dataType, INT64), stringField(TENSOR.name, name), lenField(TENSOR.rawData, raw)]);
}

function uniqueName(base: string, taken: (name: string) => boolean): string {
  let name = base;
  for (let i = 1; taken(name); i++) name = `${base}_${i}`;
  return name;
}

/**
 * Rewrites a scalar `timestep` consumed only by `Unsqueeze(timestep, [0])`
 * into a `[batch_size]` input feeding `Reshape(timestep, [-1])`. Returns the
 * new model bytes, or why the pattern was not found (the model is then used
 * as it is, grouping rows by timestep).
 */
export function adaptScalarTimestep(model: Uint8Array, inputName = 'timestep'): TimestepAdaptation {
  const refuse = (reason: string): TimestepAdaptation => ({ adapted: false, reason });
  // Views of a plain Uint8Array are far cheaper than Buffer slices, and a model has hundreds of thousands.
  const bytesIn = new Uint8Array(model.buffer, model.byteOffset, model.byteLength);
  const top = readFields(bytesIn);
  const graphField = top.find((f) => f.no === MODEL.graph);
  if (graphField === undefined) return refuse('the model has no graph');
  const graph = readFields(graphField.bytes);

  const inputField = graph.find((f) => f.no === GRAPH.input && strings(readFields(f.bytes), VALUE_INFO.name)[0] === inputName);
  if (inputField === undefined) return refuse(`the graph has no input "${inputName}"`);
  const inputInfo = readFields(inputField.bytes);
  const shape = declaredShape(inputInfo);
  if (shape === undefined || shape.length !== 0) {
    return refuse(`"${inputName}" is declared ${shape === undefined ? 'without a shape' : `[${shape.join(', ')}]`}, not as a scalar`);
  }

  const nodes = graph.filter((f) => f.no === GRAPH.node).map(parseNode);
  const consumers = nodes.filter((n) => n.inputs.includes(inputName));
  if (usedInSubgraphs(nodes, inputName)) return refuse(`"${inputName}" is read inside a subgraph`);
  if (graph.some((f) => f.no === GRAPH.output && strings(readFields(f.bytes), VALUE_INFO.name)[0] === inputName)) {
    return refuse(`"${inputName}" is also a graph output`);
  }
  const unsqueeze = consumers[0];
  if (consumers.length !== 1 || unsqueeze === undefined) {
    return refuse(`"${inputName}" feeds ${consumers.length} nodes (${consumers.map((n) => n.opType).join(', ')}); expected exactly one Unsqueeze`);
  }
  if (unsqueeze.opType !== 'Unsqueeze' || (unsqueeze.domain !== '' && unsqueeze.domain !== 'ai.onnx')) {
    return refuse(`"${inputName}" feeds ${unsqueeze.opType}, not Unsqueeze`);
  }
  const output = unsqueeze.outputs[0];
  if (unsqueeze.inputs[0] !== inputName || unsqueeze.inputs.filter((i) => i === inputName).length !== 1 || unsqueeze.outputs.length !== 1 || output === undefined) {
    return refuse(`the Unsqueeze of "${inputName}" has an unexpected form`);
  }
  // Opset 13 moved `axes` from an attribute to a second input.
  const axesInput = unsqueeze.inputs[1];
  const axes = axesInput !== undefined && axesInput !== ''
    ? constantInt64s(axesInput, graph, nodes)
    : (() => {
        const attr = attributes(unsqueeze).get('axes');
        return attr !== undefined ? int64s(attr, ATTR.ints) : undefined;
      })();
  if (axes === undefined) return refuse(`the Unsqueeze of "${inputName}" has axes that are not a constant`);
  if (axes.length !== 1 || (axes[0] !== 0n && axes[0] !== -1n)) {
    return refuse(`the Unsqueeze of "${inputName}" has axes [${axes.join(', ')}]; only [0] or [-1] make a scalar a [1] vector`);
  }

  const names = new Set<string>();
  for (const n of nodes) [...n.inputs, ...n.outputs, n.name].forEach((s) => names.add(s));
  for (const f of graph) {
    if (f.no === GRAPH.initializer) names.add(strings(readFields(f.bytes), TENSOR.name)[0] ?? '');
    if (f.no === GRAPH.input || f.no === GRAPH.output || f.no === GRAPH.valueInfo) names.add(strings(readFields(f.bytes), VALUE_INFO.name)[0] ?? '');
  }
  const shapeName = uniqueName(`${inputName}_flat_shape`, (s) => names.has(s));
  const nodeName = unsqueeze.name !== '' ? unsqueeze.name : uniqueName(`${inputName}_reshape`, (s) => names.has(s));
  const reshape = concatBytes([
    stringField(NODE.input, inputName), stringField(NODE.input, shapeName), stringField(NODE.output, output),
    stringField(NODE.name, nodeName), stringField(NODE.opType, 'Reshape'),
  ]);

  // The axes constant goes with the node when nothing else reads it (onnxruntime would warn about it).
  const dropped = new Set<WireField>();
  if (axesInput !== undefined && axesInput !== '' && nodes.every((n) => n === unsqueeze || !n.inputs.includes(axesInput))) {
    for (const f of graph) if (f.no === GRAPH.initializer && strings(readFields(f.bytes), TENSOR.name)[0] === axesInput) dropped.add(f);
    for (const n of nodes) if (n.opType === 'Constant' && n.outputs.length === 1 && n.outputs[0] === axesInput) dropped.add(n.field);
  }

  const parts: Uint8Array[] = [];
  for (const f of graph) {
    if (f === unsqueeze.field) parts.push(lenField(GRAPH.node, reshape));
    else if (dropped.has(f)) continue;
    else if (f === inputField) parts.push(lenField(GRAPH.input, withBatchShape(inputInfo, inputField.bytes, TIMESTEP_BATCH_DIM)));
    else if (f.no === GRAPH.valueInfo && strings(readFields(f.bytes), VALUE_INFO.name)[0] === output) continue; // pinned [1]
    else parts.push(graphField.bytes.subarray(f.start, f.end));
  }
  parts.push(lenField(GRAPH.initializer, int64Initializer(shapeName, [-1n])));
  // The graph may hold gigabytes of weights: its parts are copied once, straight into the new model.
  const graphLength = parts.reduce((n, p) => n + p.length, 0);
  const bytes = concatBytes(top.flatMap((f) => (f === graphField
    ? [tag(MODEL.graph, WireType.Len), encodeVarint(graphLength), ...parts]
    : [bytesIn.subarray(f.start, f.end)])));
  return { adapted: true, bytes, replacedNode: nodeName };
}
