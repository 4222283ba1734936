// Latents → pixels: divide by the VAE scaling factor, decode, map [-1, 1] to bytes.
import { ModelFolderError } from './model-folder.js';
import { floatTensor, inputSpec, outputName, readFloats, type InferenceSession, type InputSpec, timedRun } from './onnx-session.js';

export class VaeDecoder {
  private readonly latent: InputSpec;
  private readonly output: string;

  constructor(
    private readonly session: InferenceSession,
    private readonly scalingFactor: number,
    /** Pixels per latent cell, from the VAE config; checked against what the decoder really does. */
    private readonly scaleFactor: number,
    private readonly file: string,
  ) {
    this.latent = inputSpec(session, 'latent_sample', file);
    this.output = outputName(session, 'sample', file);
  }

  /** Decodes one image's latent [c, h, w] into interleaved RGB bytes [H, W, 3]. */
  async decode(latent: Float32Array, shape: readonly [number, number, number]): Promise<{ rgb: Uint8Array; width: number; height: number }> {
    const scaled = new Float32Array(latent.length);
    for (let i = 0; i < latent.length; i++) scaled[i] = (latent[i] as number) / this.scalingFactor;
    const out = await timedRun(this.session, { [this.latent.name]: floatTensor(this.latent, scaled, [1, ...shape], this.file) });
    const t = out[this.output] as Parameters<typeof readFloats>[0] & { dims: readonly number[] };
    const px = readFloats(t);
    const height = t.dims[2] as number;
    const width = t.dims[3] as number;
    if (height !== shape[1] * this.scaleFactor || width !== shape[2] * this.scaleFactor) {
      // The config's block_out_channels disagree with the decoder: every image would come out the wrong size.
      throw new ModelFolderError(this.file, `decoded ${shape[2]}×${shape[1]} latents into ${width}×${height} pixels, ` +
        `but the VAE config's block_out_channels imply ×${this.scaleFactor}`);
    }
    const plane = width * height;
    const rgb = new Uint8Array(plane * 3);
    for (let i = 0; i < plane; i++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = ((px[ch * plane + i] as number) + 1) * 127.5;
        rgb[i * 3 + ch] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
      }
    }
    return { rgb, width, height };
  }
}
