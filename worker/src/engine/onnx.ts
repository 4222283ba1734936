// The `onnx` engine: a Stable Diffusion pipeline on onnxruntime-node.
// Text encoding happens before an image joins the batch; the continuous
// batcher runs only UNet steps; VAE decoding and image encoding happen as
// each image leaves, off the UNet's path.
import { ImageFormat, MAX_SEED, Scheduler, batchGroupKey, isSeed, schedulerByProto, type ResolvedParams } from '@latentfarm/proto';
import { ContinuousBatcher, type BatchObserver, type BatchPolicy } from '../batching/continuous-batcher.js';
import { encodeImage } from '../image/encode.js';
import { loadModelFolder, type ModelFolder } from '../pipeline/model-folder.js';
import { createSession, type Provider } from '../pipeline/onnx-session.js';
import { createUnetSession, type UnetTimestepHandling, type UnetTimestepMode } from '../pipeline/unet-session.js';
import { SeededRandom } from '../pipeline/random.js';
import { TextEncoder } from '../pipeline/text-encoder.js';
import { ClipTokenizer } from '../pipeline/tokenizer.js';
import { Unet, type UnetCallObserver } from '../pipeline/unet.js';
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
  /** A UNet declaring one scalar timestep: adapt its graph in memory (default) or group rows by timestep. */
  unetTimestep?: UnetTimestepMode;
  /** Told of every UNet call (benchmarks and tests count them). */
  onUnetCall?: (model: string, ...call: Parameters<UnetCallObserver>) => void;
}

/** What was loaded for one model folder, for the start log. */
export interface LoadedModelReport {
  readonly model: string;
  readonly dir: string;
  readonly format: ModelFolder['format'];
  readonly formatDescription: string;
  readonly unetTimestep: UnetTimestepHandling;
  readonly unetTimestepDetail: string;
}

interface LoadedModel {
  folder: ModelFolder;
  text: TextEncoder;
  unet: Unet;
  vae: VaeDecoder;
  schedulerFile: SchedulerConfigInput;
  report: LoadedModelReport;
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

export class OnnxEngine implements Engine {
  readonly info: EngineInfo;
  /** One report per model folder: the format recognised and how the UNet takes timesteps. */
  readonly loaded: readonly LoadedModelReport[];
  private readonly batcher: ContinuousBatcher<Item>;

  private constructor(private readonly models: Map<string, LoadedModel>, options: OnnxOptions, observer: BatchObserver) {
    this.info = {
      engine: 'onnx', provider: options.provider, device: options.provider === 'cpu' ? 'cpu' : options.provider, models: [...models.keys()], maxBatch: options.maxBatch,
      modelDefaults: [...models.values()].map(({ folder }) => ({ name: folder.name, width: folder.nativeWidth, height: folder.nativeHeight, scheduler: folder.defaultScheduler })),
    };
    this.loaded = [...models.values()].map((m) => m.report);
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
      const [textSession, unet, vaeSession] = await Promise.all([
        createSession(folder.textEncoder, options.provider, options.threads),
        createUnetSession(folder.unet, folder.unetTimestep, options.unetTimestep ?? 'adapt', options.provider, options.threads),
        createSession(folder.vaeDecoder, options.provider, options.threads),
      ]);
      const tokenizer = await ClipTokenizer.load(folder.tokenizerDir);
      const schedulerFile = parseSchedulerConfig(folder.schedulerConfig, `${folder.dir}/scheduler/scheduler_config.json`);
      models.set(folder.name, {
        folder,
        text: new TextEncoder(textSession, tokenizer, folder.textEncoder),
        unet: new Unet(unet.session, folder.unet, (rows, timesteps) => options.onUnetCall?.(folder.name, rows, timesteps)),
        vae: new VaeDecoder(vaeSession, folder.vaeScalingFactor, folder.vaeScaleFactor, folder.vaeDecoder),
        schedulerFile,
        report: {
          model: folder.name, dir: folder.dir, format: folder.format, formatDescription: folder.formatDescription,
          unetTimestep: unet.handling, unetTimestepDetail: unet.detail,
        },
      });
    }
    return new OnnxEngine(models, options, observer);
  }

  async render(request: RenderRequest): Promise<RenderOutput> {
    const model = this.models.get(request.model);
    if (model === undefined) throw new TaskError(`model "${request.model}" is not loaded on this worker`, false);
    const p = request.params;
    const f = model.folder.vaeScaleFactor;
    if (p.width % f !== 0 || p.height % f !== 0) throw new TaskError(`size ${p.width}×${p.height} is not a multiple of ${f} (the VAE's scale factor)`, false);
    if (!isSeed(p.seed)) throw new TaskError(`seed ${p.seed} is outside the seed range 0..${MAX_SEED}`, false);
    const scheduler = this.scheduler(model, p);
    const guided = p.cfgScale > 1;
    const t0 = performance.now();
    const [cond, uncond] = await model.text.encode(guided ? [request.prompt, request.negativePrompt] : [request.prompt]);
    const textSeconds = (performance.now() - t0) / 1000;
    if (request.signal.aborted) throw new TaskAbortedError(`task ${request.taskId} aborted`);
    // Each image's noise comes from its own seed: the same image alone or in any batch.
    const rng = new SeededRandom(p.seed);
    const latentShape = [model.folder.latentChannels, p.height / f, p.width / f] as const;
    const latents = rng.fillNormal(new Float32Array(latentShape[0] * latentShape[1] * latentShape[2]));
    for (let i = 0; i < latents.length; i++) latents[i] = (latents[i] as number) * scheduler.initNoiseSigma;
    return new Promise((resolve, reject) => {
      this.batcher.add({
        group: batchGroupKey(request.model, p), signal: request.signal, request, model, scheduler, latents, latentShape,
        cond: cond as Float32Array, uncond: guided ? uncond : undefined, noise: rng.normalSource(),
        stepIndex: 0, unetSeconds: 0, textSeconds, resolve, reject,
      });
    });
  }

  private scheduler(model: LoadedModel, p: ResolvedParams): ImageScheduler {
    const asked = schedulerByProto(p.scheduler);
    // A scheduler this worker's table lacks (a newer coordinator's) fails the image rather than render it with another.
    if (asked === undefined && p.scheduler !== Scheduler.UNSPECIFIED) throw new TaskError(`scheduler ${p.scheduler} is not one this worker offers`, false);
    const kind: SchedulerKind = asked?.name ?? model.folder.defaultScheduler;
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
