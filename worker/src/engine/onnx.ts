// The `onnx` engine: a Stable Diffusion pipeline on onnxruntime-node.
// Text encoding happens before an image joins the batch; the continuous
// batcher runs only UNet steps; VAE decoding and image encoding happen as
// each image leaves, off the UNet's path.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageFormat, Scheduler, type ResolvedParams } from '@latentfarm/proto';
import { ContinuousBatcher, type BatchObserver, type BatchPolicy } from '../batching/continuous-batcher.js';
import { encodeImage } from '../image/encode.js';
import { loadModelFolder, type ModelFolder } from '../pipeline/model-folder.js';
import { createSession, type Provider } from '../pipeline/onnx-session.js';
import { SeededRandom } from '../pipeline/random.js';
import { TextEncoder } from '../pipeline/text-encoder.js';
import { ClipTokenizer } from '../pipeline/tokenizer.js';
import { Unet } from '../pipeline/unet.js';
import { VaeDecoder } from '../pipeline/vae.js';
import {
  createScheduler, parseSchedulerConfig, resolveSchedulerConfig,
  type ImageScheduler, type SchedulerConfigInput, type SchedulerKind,
} from '../schedulers/index.js';
import { TaskAbortedError, TaskError, type Engine, type EngineInfo, type RenderOutput, type RenderRequest } from './engine.js';

export interface OnnxOptions {
  modelDirs: string[];
  provider: Provider;
  maxBatch: number;
  /** onnxruntime intra-op threads; 0 lets onnxruntime choose. */
  threads: number;
  batchPolicy?: BatchPolicy;
}

interface LoadedModel {
  folder: ModelFolder;
  text: TextEncoder;
  unet: Unet;
  vae: VaeDecoder;
  schedulerFile: SchedulerConfigInput;
  defaultKind: SchedulerKind;
  /** Native image size, announced to the coordinator; undefined when the UNet config gives none. */
  native: { width: number; height: number } | undefined;
}

interface Item {
  readonly group: string;
  readonly signal: AbortSignal;
  readonly request: RenderRequest;
  readonly model: LoadedModel;
  readonly scheduler: ImageScheduler;
  readonly latents: Float32Array;
  readonly latentShape: readonly [number, number, number];
  readonly cond: Float32Array;
  /** Unconditional (negative prompt) states; undefined when guidance is off. */
  readonly uncond: Float32Array | undefined;
  readonly noise: () => number;
  stepIndex: number;
  unetSeconds: number;
  textSeconds: number;
  resolve(o: RenderOutput): void;
  reject(e: unknown): void;
}

const KIND_BY_ENUM: Partial<Record<Scheduler, SchedulerKind>> = {
  [Scheduler.DDIM]: 'ddim', [Scheduler.PNDM]: 'pndm', [Scheduler.EULER]: 'euler',
  [Scheduler.EULER_ANCESTRAL]: 'euler_ancestral', [Scheduler.DPMPP_2M]: 'dpmpp_2m', [Scheduler.LCM]: 'lcm',
};
const KIND_BY_CLASS: Record<string, SchedulerKind> = {
  DDIMScheduler: 'ddim', PNDMScheduler: 'pndm', EulerDiscreteScheduler: 'euler', EulerAncestralDiscreteScheduler: 'euler_ancestral',
  DPMSolverMultistepScheduler: 'dpmpp_2m', LCMScheduler: 'lcm',
};
const LATENT_CHANNELS = 4;
/** Image pixels per latent pixel: the pipeline's latents are always 1/8 of the image. */
const LATENT_SCALE = 8;

/** The size the model was trained at: unet/config.json's sample_size (int or [h, w]) in image pixels. */
async function nativeSize(dir: string): Promise<{ width: number; height: number } | undefined> {
  let size: unknown;
  try {
    size = (JSON.parse(await readFile(join(dir, 'unet', 'config.json'), 'utf8')) as Record<string, unknown>)['sample_size'];
  } catch {
    return undefined; // an export without a UNet config still renders; it just announces no native size
  }
  const [h, w] = Array.isArray(size) ? size : [size, size];
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? { width: w * LATENT_SCALE, height: h * LATENT_SCALE } : undefined;
}

export class OnnxEngine implements Engine {
  readonly info: EngineInfo;
  private readonly batcher: ContinuousBatcher<Item>;

  private constructor(private readonly models: Map<string, LoadedModel>, options: OnnxOptions, observer: BatchObserver) {
    this.info = {
      engine: 'onnx', provider: options.provider, device: options.provider === 'cpu' ? 'cpu' : options.provider, models: [...models.keys()], maxBatch: options.maxBatch,
      modelDefaults: [...models.values()].flatMap((m) => (m.native !== undefined ? [{ name: m.folder.name, ...m.native, scheduler: m.defaultKind }] : [])),
    };
    this.batcher = new ContinuousBatcher<Item>(options.maxBatch, {
      step: (_group, items) => this.step(items),
      isDone: (item) => item.stepIndex >= item.scheduler.stepCount,
      leave: (item, outcome) => {
        if (outcome.aborted) item.reject(new TaskAbortedError(`task ${item.request.taskId} aborted`));
        else if (outcome.error !== undefined) item.reject(new TaskError(`UNet call failed: ${(outcome.error as Error).message}`, true, { cause: outcome.error }));
        else this.finish(item).then(item.resolve, item.reject);
      },
    }, observer, options.batchPolicy);
  }

  /** Loads and checks every model folder; throws ModelFolderError or ConfigError with one clear line. */
  static async create(options: OnnxOptions, observer: BatchObserver = {}): Promise<OnnxEngine> {
    const models = new Map<string, LoadedModel>();
    for (const dir of options.modelDirs) {
      const folder = await loadModelFolder(dir);
      const [textSession, unetSession, vaeSession] = await Promise.all([
        createSession(folder.textEncoder, options.provider, options.threads),
        createSession(folder.unet, options.provider, options.threads),
        createSession(folder.vaeDecoder, options.provider, options.threads),
      ]);
      const tokenizer = await ClipTokenizer.load(folder.tokenizerDir);
      const schedulerFile = parseSchedulerConfig(folder.schedulerConfig, `${folder.dir}/scheduler/scheduler_config.json`);
      models.set(folder.name, {
        folder,
        text: new TextEncoder(textSession, tokenizer, folder.textEncoder),
        unet: new Unet(unetSession, folder.unet),
        vae: new VaeDecoder(vaeSession, folder.vaeScalingFactor, folder.vaeDecoder),
        schedulerFile,
        defaultKind: KIND_BY_CLASS[folder.schedulerClass] ?? 'pndm',
        native: await nativeSize(folder.dir),
      });
    }
    return new OnnxEngine(models, options, observer);
  }

  async render(request: RenderRequest): Promise<RenderOutput> {
    const model = this.models.get(request.model);
    if (model === undefined) throw new TaskError(`model "${request.model}" is not loaded on this worker`, false);
    const p = request.params;
    if (p.width % 8 !== 0 || p.height % 8 !== 0) throw new TaskError(`size ${p.width}×${p.height} is not a multiple of 8`, false);
    const scheduler = this.scheduler(model, p);
    const guided = p.cfgScale > 1;
    const t0 = performance.now();
    const [cond, uncond] = await model.text.encode(guided ? [request.prompt, request.negativePrompt] : [request.prompt]);
    const textSeconds = (performance.now() - t0) / 1000;
    if (request.signal.aborted) throw new TaskAbortedError(`task ${request.taskId} aborted`);
    // Each image's noise comes from its own seed: the same image alone or in any batch.
    const rng = new SeededRandom(p.seed);
    const latentShape = [LATENT_CHANNELS, p.height / 8, p.width / 8] as const;
    const latents = rng.fillNormal(new Float32Array(latentShape[0] * latentShape[1] * latentShape[2]));
    for (let i = 0; i < latents.length; i++) latents[i] = (latents[i] as number) * scheduler.initNoiseSigma;
    return new Promise((resolve, reject) => {
      this.batcher.add({
        group: `${request.model}:${p.width}x${p.height}`, signal: request.signal, request, model, scheduler, latents, latentShape,
        cond: cond as Float32Array, uncond: guided ? uncond : undefined, noise: rng.normalSource(),
        stepIndex: 0, unetSeconds: 0, textSeconds, resolve, reject,
      });
    });
  }

  private scheduler(model: LoadedModel, p: ResolvedParams): ImageScheduler {
    const kind = KIND_BY_ENUM[p.scheduler] ?? model.defaultKind;
    try {
      return createScheduler(kind, resolveSchedulerConfig(kind, model.schedulerFile), p.steps);
    } catch (err) {
      throw new TaskError(`scheduler ${kind}: ${(err as Error).message}`, false, { cause: err });
    }
  }

  /** One UNet call for the whole batch: [uncond; cond] rows per guided image, one row otherwise. */
  private async step(items: readonly Item[]): Promise<void> {
    const first = items[0] as Item;
    const model = first.model;
    const latentSize = first.latents.length;
    const hiddenSize = first.cond.length;
    const rows = items.reduce((n, it) => n + (it.uncond !== undefined ? 2 : 1), 0);
    const sample = new Float32Array(rows * latentSize);
    const hidden = new Float32Array(rows * hiddenSize);
    const timesteps: number[] = [];
    let r = 0;
    for (const it of items) {
      const input = it.scheduler.scaleModelInput(it.latents, it.stepIndex);
      const t = it.scheduler.timesteps[it.stepIndex] as number;
      for (const states of it.uncond !== undefined ? [it.uncond, it.cond] : [it.cond]) {
        sample.set(input, r * latentSize);
        hidden.set(states, r * hiddenSize);
        timesteps.push(t);
        r++;
      }
    }
    const t0 = performance.now();
    const out = await model.unet.run({ sample, timesteps, hidden, latentShape: first.latentShape, seqLen: model.text.sequenceLength });
    const seconds = (performance.now() - t0) / 1000;
    r = 0;
    const guidedNoise = new Float32Array(latentSize);
    for (const it of items) {
      let eps: Float32Array;
      if (it.uncond !== undefined) {
        const g = it.request.params.cfgScale;
        const u = r * latentSize;
        const c = (r + 1) * latentSize;
        for (let i = 0; i < latentSize; i++) {
          const un = out[u + i] as number;
          guidedNoise[i] = un + g * ((out[c + i] as number) - un);
        }
        eps = guidedNoise;
        r += 2;
      } else {
        eps = out.subarray(r * latentSize, (r + 1) * latentSize);
        r += 1;
      }
      it.scheduler.step(eps, it.stepIndex, it.latents, it.noise, it.latents);
      it.stepIndex++;
      it.unetSeconds += seconds;
      it.request.onStep(it.stepIndex, it.scheduler.stepCount);
    }
  }

  private async finish(item: Item): Promise<RenderOutput> {
    const t0 = performance.now();
    const { rgb, width, height } = await item.model.vae.decode(item.latents, item.latentShape);
    const t1 = performance.now();
    const p = item.request.params;
    const meta: Record<string, string> = {
      prompt: item.request.prompt, negative_prompt: item.request.negativePrompt, steps: String(p.steps),
      sampler: item.scheduler.kind, cfg_scale: String(p.cfgScale), seed: String(p.seed), size: `${width}x${height}`, model: item.request.model,
    };
    const encoded = await encodeImage(rgb, width, height, p.outputFormat || ImageFormat.PNG, meta);
    return {
      image: encoded.data, mimeType: encoded.mimeType,
      timings: { textEncodeSeconds: item.textSeconds, unetSeconds: item.unetSeconds, vaeSeconds: (t1 - t0) / 1000, encodeSeconds: (performance.now() - t1) / 1000 },
    };
  }

  takeBusySeconds(): number {
    return this.batcher.takeBusySeconds();
  }

  async close(): Promise<void> {
    // Sessions are released with the process; onnxruntime-node has no async dispose we must await.
  }
}
