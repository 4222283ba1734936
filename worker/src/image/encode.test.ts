import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { ImageFormat } from '@latentfarm/proto';
import { encodeImage } from './encode.js';
import { decodePng } from './png.js';

describe('encodeImage', () => {
  const rgb = new Uint8Array(16 * 8 * 3).map((_, i) => (i * 7) % 256);
  const meta = { prompt: 'a red circle', seed: '5' };

  it('writes PNG with the parameters as text', async () => {
    const out = await encodeImage(rgb, 16, 8, ImageFormat.PNG, meta);
    expect(out.mimeType).toBe('image/png');
    expect(decodePng(out.data).text).toEqual(meta);
  });

  it.each([[ImageFormat.WEBP, 'webp', 'image/webp'], [ImageFormat.JPEG, 'jpeg', 'image/jpeg']] as const)('writes %s with the parameters in EXIF', async (format, name, mime) => {
    const out = await encodeImage(rgb, 16, 8, format, meta);
    expect(out.mimeType).toBe(mime);
    const m = await sharp(out.data).metadata();
    expect([m.format, m.width, m.height]).toEqual([name, 16, 8]);
    expect(m.exif?.toString('latin1')).toContain('"prompt":"a red circle"');
  });
});
