// The wire helpers on values the ONNX edit meets: negative int64s, packed runs, long lengths, truncation.
import { describe, expect, it } from 'vitest';
import { WireFormatError, concatBytes, encodeVarint, lenField, readFields, readLength, readPackedVarints, varintField } from './protobuf-wire.js';

describe('protobuf wire', () => {
  it('round-trips int64 varints, negative ones as 10-byte two\'s complement', () => {
    for (const v of [0n, 1n, 127n, 128n, 300n, 2n ** 53n + 1n, -1n, -(2n ** 63n)]) {
      const [field] = readFields(varintField(3, v));
      expect(field?.no).toBe(3);
      expect(BigInt.asIntN(64, field!.varint)).toBe(v);
    }
    expect(encodeVarint(-1)).toHaveLength(10);
  });

  it('reads packed varints and lengths past 2^28', () => {
    expect(readPackedVarints(concatBytes([encodeVarint(5), encodeVarint(-1), encodeVarint(300)])).map((v) => BigInt.asIntN(64, v))).toEqual([5n, -1n, 300n]);
    expect(readLength(encodeVarint(3_000_000_000), 0)).toEqual([3_000_000_000, 5]);
  });

  it('keeps each field\'s exact byte range', () => {
    const msg = concatBytes([varintField(1, 8), lenField(7, Uint8Array.of(1, 2, 3)), varintField(2, 5)]);
    const fields = readFields(msg);
    expect(fields.map((f) => [f.no, f.start, f.end])).toEqual([[1, 0, 2], [7, 2, 7], [2, 7, 9]]);
    expect(Array.from(fields[1]!.bytes)).toEqual([1, 2, 3]);
  });

  it('refuses a length that runs past the end and a truncated varint', () => {
    expect(() => readFields(Uint8Array.of(0x3a, 0x05, 1, 2))).toThrow(WireFormatError);
    expect(() => readFields(Uint8Array.of(0x08, 0x80))).toThrow(WireFormatError);
  });
});
