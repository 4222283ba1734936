// The `sim` engine: no model, GPU-like timing. One batched step takes
// base + perImage × batch milliseconds, so batching policies can be compared
// honestly without a GPU. Images are real PNGs of the requested size whose
// pixels follow from the seed, so determinism is testable end to end.
import { ContinuousBatcher, type BatchObserver } from '../batching/continuous-batcher.js';
import { encodePng } from '../image/png.js';
import { SimDevice } from './sim-device.js';
import { TaskAbortedError, TaskError, type Engine, type EngineInfo, type RenderOutput, type RenderRequest } from './engine.js';

export interface SimOptions {
  models: string[];
  maxBatch: number;
  stepBaseMs: number;
  stepPerImageMs: number;
  /** Renders whose prompt contains this string fail (for failure-path tests); empty disables. */
  failMarker: string;
  /** Size and scheduler announced as every model's own, as a real model's folder would give them; undefined announces none. */
  native: { width: number; height: number; scheduler: string } | undefined;
}

interface SimItem {
  readonly group: string;
  readonly signal: AbortSignal;
  readonly request: RenderRequest;
  step: number;
  readonly total: number;
  unetSeconds: number;
  resolve(o: RenderOutput): void;
  reject(e: unknown): void;
}

export class SimEngine implements Engine {
  readonly info: EngineInfo;
  private readonly batcher: ContinuousBatcher<SimItem>;

  constructor(private readonly options: SimOptions, observer: BatchObserver = {}) {
    const { native } = options;
    this.info = {
      engine: 'sim', provider: 'sim', device: 'simulated', models: options.models, maxBatch: options.maxBatch,
      modelDefaults: native === undefined ? [] : options.models.map((name) => ({ name, ...native })),
    };
    const device = new SimDevice();
    this.batcher = new ContinuousBatcher<SimItem>(options.maxBatch, {
      step: async (_group, items) => {
        const ms = options.stepBaseMs + options.stepPerImageMs * items.length;
        if (ms > 0) await device.step(ms);
        for (const item of items) {
          item.step++;
          item.unetSeconds += ms / 1000;
          item.request.onStep(item.step, item.total);
        }
      },
      isDone: (item) => item.step >= item.total,
      leave: (item, outcome) => {
        if (outcome.aborted) item.reject(new TaskAbortedError(`task ${item.request.taskId} aborted`));
        else if (outcome.error !== undefined) item.reject(outcome.error);
        // Encoding waits until the next step is under way, as a real device's VAE and encoding run beside the UNet:
        // done inline, the PNGs of every image finishing at this boundary would hold the next step back.
        else setImmediate(() => this.finish(item));
      },
    }, observer);
  }

  render(request: RenderRequest): Promise<RenderOutput> {
    if (this.options.failMarker !== '' && request.prompt.includes(this.options.failMarker)) {
      return Promise.reject(new TaskError(`prompt contains the sim engine's fail marker "${this.options.failMarker}"`, true));
    }
    const { width, height } = request.params;
    return new Promise((resolve, reject) => {
      this.batcher.add({
        group: `${request.model}:${width}x${height}`, signal: request.signal, request,
        step: 0, total: request.params.steps, unetSeconds: 0, resolve, reject,
      });
    });
  }

  private finish(item: SimItem): void {
    const t0 = performance.now();
    const { params, prompt } = item.request;
    const image = encodePng(simPixels(params.width, params.height, params.seed), params.width, params.height, {
      prompt, seed: String(params.seed), steps: String(params.steps), model: item.request.model,
    }, 1);
    item.resolve({
      image, mimeType: 'image/png',
      timings: { textEncodeSeconds: 0, unetSeconds: item.unetSeconds, vaeSeconds: 0, encodeSeconds: (performance.now() - t0) / 1000 },
    });
  }

  takeBusySeconds(): number {
    return this.batcher.takeBusySeconds();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** A smooth two-colour gradient with a disc, all chosen by the seed. */
export function simPixels(width: number, height: number, seed: number): Uint8Array {
  let s = seed >>> 0 || 1;
  const rnd = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
  const a = [rnd() * 255, rnd() * 255, rnd() * 255];
  const b = [rnd() * 255, rnd() * 255, rnd() * 255];
  const disc = [rnd() * 255, rnd() * 255, rnd() * 255];
  const cx = rnd() * width;
  const cy = rnd() * height;
  const r2 = (0.1 + rnd() * 0.25) ** 2 * width * height;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height);
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r2;
      for (let c = 0; c < 3; c++) {
        out[(y * width + x) * 3 + c] = inDisc ? (disc[c] as number) : (a[c] as number) * (1 - t) + (b[c] as number) * t;
      }
    }
  }
  return out;
}
