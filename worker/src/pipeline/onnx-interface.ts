// A model file's opset and declared inputs, read without loading its weights:
// ModelProto and GraphProto fields are walked by their length prefixes with
// positional reads, and only the small ones (opset_import, inputs) are read.
import { open, type FileHandle } from 'node:fs/promises';
import { declaredShape } from './onnx-graph.js';
import { WireType, readFields, readLength, strings } from './protobuf-wire.js';

export interface OnnxInput {
  readonly name: string;
  /** onnx TensorProto.DataType: 1 float, 6 int32, 7 int64, 10 float16. */
  readonly elemType: number;
  /** undefined when the rank is not declared. */
  readonly shape: readonly (number | string)[] | undefined;
}

export interface OnnxInterface {
  /** The default-domain opset, or 0 when the model does not say. */
  readonly opset: number;
  readonly inputs: readonly OnnxInput[];
}

export const ELEM_TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'float32', 6: 'int32', 7: 'int64', 10: 'float16', 11: 'float64' };

interface Header { no: number; wireType: number; payloadStart: number; payloadEnd: number }

/** Reads a field header at `pos` (a tag, and a length for length-delimited fields). */
async function header(fh: FileHandle, pos: number, end: number): Promise<Header> {
  const buf = new Uint8Array(Math.min(20, end - pos));
  await fh.read(buf, 0, buf.length, pos);
  const [tag, afterTag] = readLength(buf, 0);
  const no = Math.floor(tag / 8);
  const wireType = tag % 8;
  switch (wireType) {
    case WireType.Varint: {
      let after = afterTag;
      while (after < buf.length && ((buf[after] as number) & 0x80) !== 0) after++;
      after++;
      return { no, wireType, payloadStart: pos + afterTag, payloadEnd: pos + after };
    }
    case WireType.Fixed64: return { no, wireType, payloadStart: pos + afterTag, payloadEnd: pos + afterTag + 8 };
    case WireType.Fixed32: return { no, wireType, payloadStart: pos + afterTag, payloadEnd: pos + afterTag + 4 };
    case WireType.Len: {
      const [len, after] = readLength(buf, afterTag);
      return { no, wireType, payloadStart: pos + after, payloadEnd: pos + after + len };
    }
    default: throw new Error(`unsupported wire type ${wireType} at byte ${pos}`);
  }
}

async function* walk(fh: FileHandle, start: number, end: number): AsyncGenerator<Header> {
  for (let pos = start; pos < end;) {
    const h = await header(fh, pos, end);
    if (h.payloadEnd > end) throw new Error(`field ${h.no} at byte ${pos} runs past the end`);
    yield h;
    pos = h.payloadEnd;
  }
}

async function payload(fh: FileHandle, h: Header): Promise<Uint8Array> {
  const buf = new Uint8Array(h.payloadEnd - h.payloadStart);
  await fh.read(buf, 0, buf.length, h.payloadStart);
  return buf;
}

/** Throws (with the wire error) when the file is not a readable ONNX model. */
export async function readOnnxInterface(file: string): Promise<OnnxInterface> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    let opset = 0;
    const inputs: OnnxInput[] = [];
    let sawGraph = false;
    for await (const top of walk(fh, 0, size)) {
      if (top.no === 8 && top.wireType === WireType.Len) {
        const op = readFields(await payload(fh, top));
        const domain = strings(op, 1)[0] ?? '';
        const version = op.find((f) => f.no === 2)?.varint;
        if ((domain === '' || domain === 'ai.onnx') && version !== undefined) opset = Number(version);
      } else if (top.no === 7 && top.wireType === WireType.Len) {
        sawGraph = true;
        for await (const g of walk(fh, top.payloadStart, top.payloadEnd)) {
          if (g.no !== 11 || g.wireType !== WireType.Len) continue;
          const info = readFields(await payload(fh, g));
          const type = info.find((f) => f.no === 2);
          const tensor = type && readFields(type.bytes).find((f) => f.no === 1);
          const elem = tensor && readFields(tensor.bytes).find((f) => f.no === 1);
          inputs.push({ name: strings(info, 1)[0] ?? '', elemType: elem !== undefined ? Number(elem.varint) : 0, shape: declaredShape(info) });
        }
      }
    }
    if (!sawGraph) throw new Error('no graph');
    return { opset, inputs };
  } finally {
    await fh.close();
  }
}

/** "float32 []", "int64 [steps]": how an input is declared, for logs and messages. */
export function describeInput(input: OnnxInput | undefined): string {
  if (input === undefined) return 'missing';
  const shape = input.shape === undefined ? '(rank unknown)' : `[${input.shape.join(', ')}]`;
  return `${ELEM_TYPE_NAMES[input.elemType] ?? `type ${input.elemType}`} ${shape}`;
}
