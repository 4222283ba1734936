// Just enough of the protobuf wire format to read ONNX messages field by
// field and write new ones, so an edit can copy every byte it does not
// change. No schema: callers know the field numbers they care about.

export const WireType = { Varint: 0, Fixed64: 1, Len: 2, Fixed32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export interface WireField {
  readonly no: number;
  readonly wireType: WireType;
  /** The whole field (tag included) within the message bytes. */
  readonly start: number;
  readonly end: number;
  /** Varint fields: the value (decoded when asked; most fields never are). */
  readonly varint: bigint;
  /** Length-delimited fields: the payload (a view, not a copy). */
  readonly bytes: Uint8Array;
}

export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** The varint at `pos` as a bigint (any 64-bit value), and the position after it. */
export function readVarint(buf: Uint8Array, pos: number, end = buf.length): [bigint, number] {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireFormatError('truncated varint');
    const b = buf[pos++] as number;
    value |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7n;
  }
  throw new WireFormatError('varint longer than 10 bytes');
}

/**
 * A varint that must fit a JS number exactly (tags, lengths), and the position
 * after it. Plain arithmetic: a model has hundreds of thousands of these, and
 * bigint decoding made parsing one take seconds.
 */
export function readLength(buf: Uint8Array, pos: number, end = buf.length): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= end) throw new WireFormatError('truncated varint');
    const b = buf[pos++] as number;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw new WireFormatError(`varint at byte ${pos - 8} is too large for a tag or a length`);
}

class Field implements WireField {
  constructor(
    readonly no: number,
    readonly wireType: WireType,
    readonly start: number,
    readonly end: number,
    readonly bytes: Uint8Array,
    private readonly message: Uint8Array,
    private readonly valueStart: number,
  ) {}

  get varint(): bigint {
    return this.wireType === WireType.Varint ? readVarint(this.message, this.valueStart, this.end)[0] : 0n;
  }
}

/** The fields of one message, in the order they were written. */
export function readFields(buf: Uint8Array): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  const end = buf.length;
  while (pos < end) {
    const start = pos;
    const [tag, afterTag] = readLength(buf, pos, end);
    pos = afterTag;
    const no = Math.floor(tag / 8);
    const wireType = (tag % 8) as WireType;
    if (no === 0) throw new WireFormatError(`field number 0 at byte ${start}`);
    const valueStart = pos;
    let bytes: Uint8Array = EMPTY;
    switch (wireType) {
      case WireType.Varint:
        for (let i = 0; ; i++) {
          if (pos >= end || i >= 10) throw new WireFormatError(`bad varint in field ${no} at byte ${start}`);
          if (((buf[pos++] as number) & 0x80) === 0) break;
        }
        break;
      case WireType.Fixed64:
        pos += 8;
        break;
      case WireType.Fixed32:
        pos += 4;
        break;
      case WireType.Len: {
        const [len, afterLen] = readLength(buf, pos, end);
        if (len > end - afterLen) throw new WireFormatError(`field ${no} at byte ${start} runs past the end`);
        pos = afterLen + len;
        bytes = buf.subarray(afterLen, pos);
        break;
      }
      default:
        throw new WireFormatError(`unsupported wire type ${wireType as number} at byte ${start}`);
    }
    if (pos > end) throw new WireFormatError(`field ${no} at byte ${start} runs past the end`);
    fields.push(new Field(no, wireType, start, pos, bytes, buf, valueStart));
  }
  return fields;
}

/** A packed run of varints (a repeated scalar field written with wire type 2). */
export function readPackedVarints(payload: Uint8Array): bigint[] {
  const out: bigint[] = [];
  let pos = 0;
  while (pos < payload.length) {
    const [v, next] = readVarint(payload, pos);
    out.push(v);
    pos = next;
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export const text = (f: WireField): string => utf8.decode(f.bytes);

/** Length-delimited fields numbered `no`, decoded as strings. */
export const strings = (fields: readonly WireField[], no: number): string[] =>
  fields.filter((f) => f.no === no && f.wireType === WireType.Len).map(text);

export function encodeVarint(value: bigint | number): Uint8Array {
  // Negative int64 values are written as their 64-bit two's complement (10 bytes).
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

export const tag = (no: number, wireType: WireType): Uint8Array => encodeVarint((no << 3) | wireType);

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

export const lenField = (no: number, payload: Uint8Array): Uint8Array =>
  concatBytes([tag(no, WireType.Len), encodeVarint(payload.length), payload]);

export const stringField = (no: number, s: string): Uint8Array => lenField(no, new TextEncoder().encode(s));

export const varintField = (no: number, v: bigint | number): Uint8Array => concatBytes([tag(no, WireType.Varint), encodeVarint(v)]);
