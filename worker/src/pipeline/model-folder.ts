// Reads and checks the standard ONNX Stable Diffusion layout that Hugging Face
// Optimum exports, so a broken folder is refused at start with one message
// naming the file and what is wrong.
import { access, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { LatentfarmError } from '@latentfarm/common';

export class ModelFolderError extends LatentfarmError {
  constructor(readonly file: string, problem: string) {
    super(`${file}: ${problem}`);
  }
}

export interface ModelFolder {
  name: string;
  dir: string;
  textEncoder: string;
  unet: string;
  vaeDecoder: string;
  tokenizerDir: string;
  schedulerConfig: unknown;
  schedulerClass: string;
  vaeScalingFactor: number;
}

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

export async function loadModelFolder(dirIn: string): Promise<ModelFolder> {
  const dir = resolve(dirIn);
  try {
    await access(dir);
  } catch {
    throw new ModelFolderError(dir, 'model folder does not exist');
  }
  const index = await readJson(join(dir, 'model_index.json'));
  for (const part of ['text_encoder', 'unet', 'vae_decoder', 'tokenizer', 'scheduler']) {
    if (!(part in index)) throw new ModelFolderError(join(dir, 'model_index.json'), `has no "${part}" entry`);
  }
  const tokenizerDir = join(dir, 'tokenizer');
  for (const f of ['vocab.json', 'merges.txt']) {
    try {
      await access(join(tokenizerDir, f));
    } catch {
      throw new ModelFolderError(join(tokenizerDir, f), 'missing: the CLIP tokenizer needs vocab.json and merges.txt');
    }
  }
  const schedulerFile = join(dir, 'scheduler', 'scheduler_config.json');
  const schedulerConfig = await readJson(schedulerFile);
  const vaeConfigFile = join(dir, 'vae_decoder', 'config.json');
  let vaeScalingFactor = 0.18215; // SD 1.x/2.x; Optimum's vae_decoder config usually carries it
  try {
    await access(vaeConfigFile);
    const v = (await readJson(vaeConfigFile))['scaling_factor'];
    if (v !== undefined) {
      if (typeof v !== 'number' || !(v > 0)) throw new ModelFolderError(vaeConfigFile, `scaling_factor ${JSON.stringify(v)} is not a positive number`);
      vaeScalingFactor = v;
    }
  } catch (err) {
    if (err instanceof ModelFolderError) throw err;
  }
  return {
    name: basename(dir),
    dir,
    textEncoder: await onnxFile(dir, 'text_encoder'),
    unet: await onnxFile(dir, 'unet'),
    vaeDecoder: await onnxFile(dir, 'vae_decoder'),
    tokenizerDir,
    schedulerConfig,
    schedulerClass: typeof schedulerConfig['_class_name'] === 'string' ? schedulerConfig['_class_name'] : 'PNDMScheduler',
    vaeScalingFactor,
  };
}
