// Reads and checks an ONNX Stable Diffusion folder in any of the three layouts
// users have, and says which one it found:
//  - `optimum`: Optimum ≥ 1.24 (and optimum-onnx) — the torch pipeline's own
//    model_index.json (a `vae` entry, `safety_checker` without a folder),
//    UNet `timestep` a float scalar, `input_ids` int64, opset 18;
//  - `optimum-1.23`: the same index, UNet `timestep` int64 [steps], opset 14;
//  - `diffusers-onnx`: diffusers' legacy conversion script —
//    `OnnxStableDiffusionPipeline` with `vae_decoder`/`vae_encoder` entries,
//    `input_ids` int32, `timestep` float32 [batch], weights in `weights.pb`.
// Components are found by folder (the same names in every layout); the index
// only has to list them in either style. A broken folder is refused at start
// with one message naming the file and what is wrong.
import { access, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { LatentfarmError } from '@latentfarm/common';
import { schedulerByDiffusersClass } from '@latentfarm/proto';
import type { SchedulerKind } from '../schedulers/index.js';
import { describeInput, readOnnxInterface, type OnnxInput, type OnnxInterface } from './onnx-interface.js';

export class ModelFolderError extends LatentfarmError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
  }
}

export type ModelFormat = 'optimum' | 'optimum-1.23' | 'diffusers-onnx';

export interface ModelFolder {
  readonly name: string;
  readonly dir: string;
  readonly format: ModelFormat;
  /** One line for the start log: the format and the facts it was recognised by. */
  readonly formatDescription: string;
  readonly textEncoder: string;
  readonly unet: string;
  readonly vaeDecoder: string;
  readonly tokenizerDir: string;
  /** How the UNet declares `timestep` (as written in its model.onnx). */
  readonly unetTimestep: OnnxInput | undefined;
  readonly schedulerConfig: unknown;
  readonly schedulerClass: string;
  /** The scheduler the folder's scheduler_config.json names; pndm (SD 1.5's) when it names one we do not offer. */
  readonly defaultScheduler: SchedulerKind;
  /** Latents are divided by this before decoding (the VAE config's scaling_factor). */
  readonly vaeScalingFactor: number;
  /** Pixels per latent cell along each side: 2^(len(block_out_channels) - 1) (diffusers' vae_scale_factor). */
  readonly vaeScaleFactor: number;
  readonly latentChannels: number;
  /** The size the model was trained at: unet sample_size × vaeScaleFactor (512 when the config does not say). */
  readonly nativeWidth: number;
  readonly nativeHeight: number;
  /** Components listed in model_index.json or present as folders that the pipeline does not use. */
  readonly ignored: readonly string[];
}

/** SD 1.x/2.x values, used only when the VAE config does not say. */
const SD_VAE_SCALE_FACTOR = 8;
const SD_LATENT_CHANNELS = 4;
const SD_SCALING_FACTOR = 0.18215;
/** SD 1.5's native size, used only when unet/config.json has no sample_size. */
export const FALLBACK_NATIVE_SIZE = 512;

/** Index entries we never load; safety checker and feature extractor are the torch pipeline's, not needed to render. */
const UNUSED = ['safety_checker', 'feature_extractor', 'image_encoder', 'vae_encoder'];

async function readJson(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelFolderError(file, 'missing');
  }
  try {
    // diffusers may write -Infinity/Infinity/NaN, which JSON.parse rejects.
    const v: unknown = JSON.parse(text.replace(/(?<=[:\[,]\s*)-?Infinity|(?<=[:\[,]\s*)NaN/g, 'null'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new ModelFolderError(file, `not valid JSON (${(err as Error).message})`);
  }
}

async function readOptionalJson(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    await access(file);
  } catch {
    return undefined;
  }
  return readJson(file);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

async function onnxFile(dir: string, part: string): Promise<string> {
  const file = join(dir, part, 'model.onnx');
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new ModelFolderError(file, `missing: the ${part} model is required`);
  }
  if (size < 16) throw new ModelFolderError(file, `only ${size} bytes: not an ONNX model`);
  const head = await readFile(file).then((b) => b.subarray(0, 2));
  // An ONNX ModelProto starts with field 1 (ir_version, varint) = byte 0x08.
  if (head[0] !== 0x08) throw new ModelFolderError(file, 'not an ONNX model (bad header)');
  return file;
}

async function onnxInterface(file: string): Promise<OnnxInterface> {
  try {
    return await readOnnxInterface(file);
  } catch (err) {
    throw new ModelFolderError(file, `not an ONNX model (${(err as Error).message})`);
  }
}

/** A model_index.json entry names a component when it is a [library, class] pair that is not [null, null]. */
function listed(index: Record<string, unknown>, key: string): boolean {
  const v = index[key];
  return Array.isArray(v) && v.some((x) => x !== null);
}

function positiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

interface VaeSettings { scalingFactor: number; scaleFactor: number; latentChannels: number; notes: string[] }

/** The VAE decoder's settings from its config.json (Optimum writes the AutoencoderKL config there). */
async function vaeSettings(dir: string): Promise<VaeSettings> {
  const file = join(dir, 'vae_decoder', 'config.json');
  const config = await readOptionalJson(file);
  const notes: string[] = [];
  let scalingFactor = SD_SCALING_FACTOR;
  let scaleFactor = SD_VAE_SCALE_FACTOR;
  let latentChannels = SD_LATENT_CHANNELS;
  if (config === undefined) {
    notes.push('no vae_decoder/config.json: SD defaults (×8, 4 latent channels, scaling 0.18215)');
    return { scalingFactor, scaleFactor, latentChannels, notes };
  }
  const scaling = config['scaling_factor'];
  if (scaling !== undefined && scaling !== null) {
    if (typeof scaling !== 'number' || !(scaling > 0)) throw new ModelFolderError(file, `scaling_factor ${JSON.stringify(scaling)} is not a positive number`);
    scalingFactor = scaling;
  }
  const blocks = config['block_out_channels'];
  if (blocks !== undefined && blocks !== null) {
    if (!Array.isArray(blocks) || blocks.length === 0 || !blocks.every(positiveInt)) {
      throw new ModelFolderError(file, `block_out_channels ${JSON.stringify(blocks).slice(0, 60)} is not a non-empty list of positive integers`);
    }
    scaleFactor = 2 ** (blocks.length - 1);
  } else {
    notes.push('VAE config has no block_out_channels: ×8');
  }
  const channels = config['latent_channels'];
  if (channels !== undefined && channels !== null) {
    if (!positiveInt(channels)) throw new ModelFolderError(file, `latent_channels ${JSON.stringify(channels)} is not a positive integer`);
    latentChannels = channels;
  } else {
    notes.push('VAE config has no latent_channels: 4');
  }
  return { scalingFactor, scaleFactor, latentChannels, notes };
}

/** [width, height] from unet/config.json's sample_size (latent cells; an int or [height, width]). */
async function nativeSize(dir: string, scaleFactor: number): Promise<[number, number] | undefined> {
  const file = join(dir, 'unet', 'config.json');
  const s = (await readOptionalJson(file))?.['sample_size'];
  if (s === undefined || s === null) return undefined;
  if (positiveInt(s)) return [s * scaleFactor, s * scaleFactor];
  if (Array.isArray(s) && s.length === 2 && s.every(positiveInt)) return [(s[1] as number) * scaleFactor, (s[0] as number) * scaleFactor];
  throw new ModelFolderError(file, `sample_size ${JSON.stringify(s).slice(0, 60)} is not a positive integer or [height, width]`);
}

function recognise(indexFile: string, index: Record<string, unknown>, timestep: OnnxInput | undefined): ModelFormat {
  const className = typeof index['_class_name'] === 'string' ? index['_class_name'] : '';
  if (listed(index, 'text_encoder_2')) {
    throw new ModelFolderError(indexFile, `${className || 'this pipeline'} has a second text encoder (SDXL); only SD 1.x/2.x layouts are supported`);
  }
  const legacy = className.startsWith('Onnx') || (listed(index, 'vae_decoder') && !listed(index, 'vae'));
  if (legacy) return 'diffusers-onnx';
  // Optimum ≤ 1.23 declares a timestep per row ([steps], a dynamic axis); later releases one scalar.
  const perRow = timestep?.shape?.length === 1 && typeof timestep.shape[0] === 'string';
  return perRow ? 'optimum-1.23' : 'optimum';
}

const FORMAT_NAMES: Readonly<Record<ModelFormat, string>> = {
  optimum: 'Optimum ≥ 1.24 export',
  'optimum-1.23': 'Optimum ≤ 1.23 export',
  'diffusers-onnx': "diffusers' legacy ONNX conversion",
};

export async function loadModelFolder(dirIn: string): Promise<ModelFolder> {
  const dir = resolve(dirIn);
  if (!(await exists(dir))) throw new ModelFolderError(dir, 'model folder does not exist');
  const indexFile = join(dir, 'model_index.json');
  const index = await readJson(indexFile);
  for (const part of ['text_encoder', 'unet', 'tokenizer', 'scheduler']) {
    if (!listed(index, part)) throw new ModelFolderError(indexFile, `has no "${part}" entry`);
  }
  if (!listed(index, 'vae') && !listed(index, 'vae_decoder')) {
    throw new ModelFolderError(indexFile, 'has no "vae" (Optimum) or "vae_decoder" (diffusers ONNX) entry');
  }
  const tokenizerDir = join(dir, 'tokenizer');
  for (const f of ['vocab.json', 'merges.txt']) {
    if (!(await exists(join(tokenizerDir, f)))) throw new ModelFolderError(join(tokenizerDir, f), 'missing: the CLIP tokenizer needs vocab.json and merges.txt');
  }
  const schedulerConfig = await readJson(join(dir, 'scheduler', 'scheduler_config.json'));
  const vae = await vaeSettings(dir);
  const size = await nativeSize(dir, vae.scaleFactor);
  const textEncoder = await onnxFile(dir, 'text_encoder');
  const unet = await onnxFile(dir, 'unet');
  const vaeDecoder = await onnxFile(dir, 'vae_decoder');
  const [unetIo, textIo] = await Promise.all([onnxInterface(unet), onnxInterface(textEncoder)]);
  const unetTimestep = unetIo.inputs.find((i) => i.name === 'timestep');
  const format = recognise(indexFile, index, unetTimestep);

  const ignored: string[] = [];
  for (const part of UNUSED) {
    const hasFolder = await exists(join(dir, part));
    if (listed(index, part) || hasFolder) ignored.push(hasFolder ? part : `${part} (listed, no folder)`);
  }
  const schedulerClass = typeof schedulerConfig['_class_name'] === 'string' ? schedulerConfig['_class_name'] : 'PNDMScheduler';
  const offered = schedulerByDiffusersClass(schedulerClass);
  const defaultScheduler: SchedulerKind = offered?.name ?? 'pndm';
  const className = typeof index['_class_name'] === 'string' ? index['_class_name'] : 'no _class_name';
  const facts = [
    `${className} index with a "${listed(index, 'vae') ? 'vae' : 'vae_decoder'}" entry`,
    `UNet opset ${unetIo.opset || '?'}, timestep ${describeInput(unetTimestep)}`,
    `input_ids ${describeInput(textIo.inputs.find((i) => i.name === 'input_ids'))}`,
    `VAE ×${vae.scaleFactor}, ${vae.latentChannels} latent channels`,
    `native ${size?.[0] ?? FALLBACK_NATIVE_SIZE}×${size?.[1] ?? FALLBACK_NATIVE_SIZE}${size === undefined ? ' (unet config has no sample_size)' : ''}`,
    `scheduler ${schedulerClass}${offered === undefined ? ` (not offered; default ${defaultScheduler})` : ''}`,
    ...vae.notes,
    ...(ignored.length > 0 ? [`ignoring ${ignored.join(', ')}`] : []),
  ];
  return {
    name: basename(dir), dir, format,
    formatDescription: `${FORMAT_NAMES[format]} (${facts.join('; ')})`,
    textEncoder, unet, vaeDecoder, tokenizerDir, unetTimestep,
    schedulerConfig, schedulerClass, defaultScheduler,
    vaeScalingFactor: vae.scalingFactor, vaeScaleFactor: vae.scaleFactor, latentChannels: vae.latentChannels,
    nativeWidth: size?.[0] ?? FALLBACK_NATIVE_SIZE, nativeHeight: size?.[1] ?? FALLBACK_NATIVE_SIZE,
    ignored,
  };
}
