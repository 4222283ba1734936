// The result check reads each format's header as its specification lays it
// out; the headers here are built byte by byte from those layouts (and match
// what sharp and our PNG encoder write: checked when this was written).
import { describe, expect, it } from 'vitest';
import { dimensionsOf, resultProblem } from './result-check.js';
import { pngWith } from './farm.fixture.js';

function jpeg(width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const sof = Buffer.alloc(19);
  sof.set([0xff, 0xc2, 0x00, 0x11, 8]); // progressive frame, length 17, 8-bit samples
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, Buffer.from([0xff, 0xff]), sof, Buffer.from([0xff, 0xda])]);
}

function riff(chunk: string, body: Buffer): Buffer {
  const head = Buffer.alloc(20);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(12 + body.length, 4);
  head.write('WEBP', 8, 'latin1');
  head.write(chunk, 12, 'latin1');
  head.writeUInt32LE(body.length, 16);
  return Buffer.concat([head, body, Buffer.alloc(16)]);
}

const vp8 = (w: number, h: number): Buffer => {
  const b = Buffer.alloc(10);
  b.set([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
  b.writeUInt16LE(w, 6);
  b.writeUInt16LE(h, 8);
  return riff('VP8 ', b);
};
const vp8l = (w: number, h: number): Buffer => {
  const b = Buffer.alloc(5);
  b[0] = 0x2f;
  b.writeUInt32LE(((w - 1) | ((h - 1) << 14)) >>> 0, 1);
  return riff('VP8L', b);
};
const vp8x = (w: number, h: number): Buffer => {
  const b = Buffer.alloc(10);
  b.writeUIntLE(w - 1, 4, 3);
  b.writeUIntLE(h - 1, 7, 3);
  return riff('VP8X', b);
};

describe('result check', () => {
  it.each([
    ['PNG', 'image/png', pngWith('', 72, 40)],
    ['JPEG (after APP0 and a fill byte)', 'image/jpeg', jpeg(72, 40)],
    ['WebP lossy', 'image/webp', vp8(72, 40)],
    ['WebP lossless', 'image/webp', vp8l(72, 40)],
    ['WebP extended', 'image/webp', vp8x(72, 40)],
  ] as const)('reads the size of a %s header', (_name, mime, bytes) => {
    expect(dimensionsOf(bytes, mime)).toEqual({ width: 72, height: 40 });
    expect(resultProblem(bytes, mime, { width: 72, height: 40 }, 1 << 20)).toBeUndefined();
  });

  it.each([
    ['not an image type', Buffer.from('<html></html>'), 'text/html', /MIME type "text\/html" is not one of image\/png, image\/jpeg, image\/webp/],
    ['PNG bytes said to be JPEG', pngWith('', 72, 40), 'image/jpeg', /the bytes are not image\/jpeg \(bad signature or header\)/],
    ['forged bytes said to be PNG', Buffer.from('\x89PNG but not really, no IHDR at all'), 'image/png', /the bytes are not image\/png \(bad signature or header\)/],
    ['a header cut short', pngWith('', 72, 40).subarray(0, 20), 'image/png', /the bytes are not image\/png \(bad signature or header\)/],
    ['a JPEG with no frame header', jpeg(72, 40).subarray(0, 22), 'image/jpeg', /the bytes are not image\/jpeg \(bad signature or header\)/],
    ['the wrong size', vp8(64, 40), 'image/webp', /the image is 64×40, the task asked for 72×40/],
    ['too many bytes', Buffer.concat([pngWith('', 72, 40), Buffer.alloc(2000)]), 'image/png', /2033 bytes, more than the 1024 allowed/],
  ] as const)('refuses %s', (_name, bytes, mime, problem) => {
    expect(resultProblem(bytes, mime, { width: 72, height: 40 }, 1024)).toMatch(problem);
  });
});
