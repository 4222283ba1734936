// A small PNG encoder (8-bit RGB, filter "up" on every row, zlib from Node)
// with tEXt chunks, so the generation parameters travel inside the file.
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { ScratchBytes } from './scratch.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes `rgb` (width × height × 3 bytes, row-major) as PNG. */
export function encodePng(rgb: Uint8Array, width: number, height: number, text: Record<string, string> = {}, level = 6): Buffer {
  if (rgb.length !== width * height * 3) throw new RangeError(`encodePng: ${rgb.length} bytes is not ${width}×${height}×3`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour RGB
  const texts = Object.entries(text).map(([k, v]) =>
    // tEXt is Latin-1; iTXt carries UTF-8 prompts faithfully.
    chunk('iTXt', Buffer.concat([Buffer.from(k, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(v, 'utf8')])));
  const raw = filterUp(rgb, width * 3, height);
  // A window (and hash table) no larger than the data compresses it the same, and zlib need not allocate and
  // clear 256 KB for it: half the time of a 64×64 image. Large images get zlib's defaults (15 and 8).
  const windowBits = Math.min(15, Math.max(9, Math.ceil(Math.log2(raw.length))));
  const idat = deflateSync(raw, { level, windowBits, memLevel: windowBits - 7 });
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), ...texts, chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

/**
 * The scanlines with filter "up" on every row but the first (cheap, and good on smooth images). The loop has a
 * function of its own: inside encodePng, V8 compiled it on-stack on the first call and then threw that code away
 * after the loop on every later call, so a worker that encodes a few hundred images never ran it optimised.
 */
function filterUp(rgb: Uint8Array, stride: number, height: number): Uint8Array {
  const raw = scanlines.take((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const o = y * (stride + 1);
    const row = y * stride;
    raw[o] = y === 0 ? 0 : 2;
    for (let x = 0; x < stride; x++) {
      const v = rgb[row + x] as number;
      raw[o + 1 + x] = y === 0 ? v : (v - (rgb[row - stride + x] as number)) & 0xff;
    }
  }
  return raw;
}

/** The scanlines being compressed (deflateSync is done with them when it returns). */
const scanlines = new ScratchBytes();

/** Reads a PNG written by encodePng (or any 8-bit RGB/RGBA non-interlaced PNG): pixels and text. */
export function decodePng(png: Uint8Array): { width: number; height: number; rgb: Uint8Array; text: Record<string, string> } {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 3;
  const idat: Buffer[] = [];
  const text: Record<string, string> = {};
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || (data[9] !== 2 && data[9] !== 6) || data[12] !== 0) throw new Error('only 8-bit RGB/RGBA non-interlaced PNG is supported');
      channels = data[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'iTXt' || type === 'tEXt') {
      const k = data.indexOf(0);
      text[data.toString('latin1', 0, k)] = type === 'tEXt' ? data.toString('latin1', k + 1) : data.toString('utf8', k + 5);
    }
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const r = raw[y * (stride + 1) + 1 + x] as number;
      const a = x >= channels ? (px[y * stride + x - channels] as number) : 0;
      const b = y > 0 ? (px[(y - 1) * stride + x] as number) : 0;
      const c = x >= channels && y > 0 ? (px[(y - 1) * stride + x - channels] as number) : 0;
      let p = 0;
      if (f === 1) p = a;
      else if (f === 2) p = b;
      else if (f === 3) p = (a + b) >> 1;
      else if (f === 4) {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      px[y * stride + x] = (r + p) & 0xff;
    }
  }
  if (channels === 3) return { width, height, rgb: px, text };
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(px.subarray(i * 4, i * 4 + 3), i * 3);
  return { width, height, rgb, text };
}



