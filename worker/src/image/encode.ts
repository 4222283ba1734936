// Pixels → file bytes. PNG carries the generation parameters as text chunks;
// WEBP and JPEG (via sharp's bundled libvips) carry them in EXIF ImageDescription.
import sharp from 'sharp';
import { ImageFormat } from '@latentfarm/proto';
import { encodePng } from './png.js';

export interface EncodedImage {
  data: Uint8Array;
  mimeType: string;
}

export async function encodeImage(rgb: Uint8Array, width: number, height: number, format: ImageFormat, meta: Record<string, string>): Promise<EncodedImage> {
  if (format === ImageFormat.WEBP || format === ImageFormat.JPEG) {
    const img = sharp(rgb, { raw: { width, height, channels: 3 } }).withExif({ IFD0: { ImageDescription: JSON.stringify(meta) } });
    const data = format === ImageFormat.WEBP ? await img.webp({ quality: 90 }).toBuffer() : await img.jpeg({ quality: 92 }).toBuffer();
    return { data, mimeType: format === ImageFormat.WEBP ? 'image/webp' : 'image/jpeg' };
  }
  return { data: encodePng(rgb, width, height, meta), mimeType: 'image/png' };
}
