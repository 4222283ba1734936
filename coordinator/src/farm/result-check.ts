// Whether a worker's result is an image of the leased size in the format it
// claims, read from the file's header only (no decoder): the PNG IHDR chunk,
// the JPEG start-of-frame segment, or the WebP VP8/VP8L/VP8X header. A result
// that fails is the worker's fault (forged, truncated, the wrong size or not
// an image at all) and is never committed.

export const IMAGE_MIME_TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
export type ImageMimeType = (typeof IMAGE_MIME_TYPES)[number];

export interface Dimensions {
  width: number;
  height: number;
}

/** What is wrong with a result, in one line; undefined when it is a `width`×`height` image of its MIME type. */
export function resultProblem(data: Uint8Array, mimeType: string, expected: Dimensions, maxBytes: number): string | undefined {
  if (data.byteLength > maxBytes) return `${data.byteLength} bytes, more than the ${maxBytes} allowed`;
  if (!(IMAGE_MIME_TYPES as readonly string[]).includes(mimeType)) {
    return `MIME type "${mimeType.slice(0, 40)}" is not one of ${IMAGE_MIME_TYPES.join(', ')}`;
  }
  const got = dimensionsOf(Buffer.from(data.buffer, data.byteOffset, data.byteLength), mimeType as ImageMimeType);
  if (got === undefined) return `the bytes are not ${mimeType} (bad signature or header)`;
  if (got.width !== expected.width || got.height !== expected.height) {
    return `the image is ${got.width}×${got.height}, the task asked for ${expected.width}×${expected.height}`;
  }
  return undefined;
}

/** The size a PNG, JPEG or WebP header declares; undefined when the bytes are not that format. */
export function dimensionsOf(b: Buffer, mimeType: ImageMimeType): Dimensions | undefined {
  switch (mimeType) {
    case 'image/png': return pngSize(b);
    case 'image/jpeg': return jpegSize(b);
    case 'image/webp': return webpSize(b);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** The signature, then IHDR first: length 13, "IHDR", width and height as big-endian uint32. */
function pngSize(b: Buffer): Dimensions | undefined {
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE)) return undefined;
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** SOI, then segments up to the first start-of-frame (SOF0–SOF15 but DHT, JPG and DAC), which holds height and width. */
function jpegSize(b: Buffer): Dimensions | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1] as number;
    if (marker === 0xff) { i++; continue; } // fill byte
    // Markers without a length: TEM, RST0–7. SOS or EOI before a frame header: not an image.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    if (marker === 0xda || marker === 0xd9) return undefined;
    const length = b.readUInt16BE(i + 2);
    if (length < 2) return undefined;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (i + 9 > b.length) return undefined;
      return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    }
    i += 2 + length;
  }
  return undefined;
}

/** RIFF container, "WEBP", then the first chunk: lossy (VP8), lossless (VP8L) or extended (VP8X, with the canvas size). */
function webpSize(b: Buffer): Dimensions | undefined {
  if (b.length < 30 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WEBP') return undefined;
  switch (b.toString('latin1', 12, 16)) {
    case 'VP8 ':
      // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 bits of scale above each).
      if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
      return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
    case 'VP8L': {
      if (b[20] !== 0x2f) return undefined;
      const bits = b.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    case 'VP8X':
      return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
    default:
      return undefined;
  }
}
