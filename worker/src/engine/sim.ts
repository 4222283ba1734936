// The `sim` engine: no model, GPU-like timing. One batched step takes
// base + perImage × batch milliseconds, so batching policies can be compared
// honestly without a GPU. Images are real PNGs of the requested size whose
// pixels follow from the seed, so determinism is testable end to end.
import { MAX_SEED, batchGroupKey, isSeed } from '@latentfarm/proto';
import { ContinuousBatcher, type BatchObserver } from '../batching/continuous-batcher.js';
import { encodePng } from '../image/png.js';
import { ScratchBytes } from '../image/scratch.js';
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
    warmUp();
  }

  render(request: RenderRequest): Promise<RenderOutput> {
    if (this.options.failMarker !== '' && request.prompt.includes(this.options.failMarker)) {
      return Promise.reject(new TaskError(`prompt contains the sim engine's fail marker "${this.options.failMarker}"`, true));
    }
    if (!isSeed(request.params.seed)) {
      return Promise.reject(new TaskError(`seed ${request.params.seed} is outside the seed range 0..${MAX_SEED}`, false));
    }
    return new Promise((resolve, reject) => {
      this.batcher.add({
        group: batchGroupKey(request.model, request.params), signal: request.signal, request,
        step: 0, total: request.params.steps, unetSeconds: 0, resolve, reject,
      });
    });
  }

  private finish(item: SimItem): void {
    const t0 = performance.now();
    const { params, prompt, model } = item.request;
    const image = simPng(model, prompt, params.width, params.height, params.seed, params.steps);
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

/** The image a sim render returns: the seed's pixels as PNG, with the generation parameters as text. */
function simPng(model: string, prompt: string, width: number, height: number, seed: number, steps: number): Buffer {
  const rgb = simPixels(width, height, seed, pixels.take(width * height * 3));
  return encodePng(rgb, width, height, { prompt, seed: String(seed), steps: String(steps), model }, 1);
}
/** The pixels of the image being encoded. */
const pixels = new ScratchBytes();

/**
 * Encodes a few throwaway images before the worker takes work, as a real engine runs a warm-up inference: the first
 * encodes in a process are slow (zlib's first use, code not yet compiled), and every worker of a farm that starts
 * together would otherwise pay for them in the same step, when its first batch finishes.
 */
function warmUp(): void {
  for (let seed = 0; seed < WARM_UP_IMAGES; seed++) simPng('sim', 'warm-up', 64, 64, seed, 1);
}
const WARM_UP_IMAGES = 8;

/** murmur3's finaliser: a bijection on uint32 that scatters neighbouring seeds. */
function mix32(x: number): number {
  let z = x >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A two-colour gradient with a disc, all chosen by the seed. The gradient's
 * ends lie exactly in the top-left and bottom-right pixels, which the disc
 * never covers, and their first four channels are the four bytes of a
 * bijective mix of the seed: so every seed in 0..2^32−1 renders its own image
 * (at least 2 pixels), and neighbouring seeds look unrelated.
 */
export function simPixels(width: number, height: number, seed: number, out = new Uint8Array(width * height * 3)): Uint8Array {
  if (!isSeed(seed)) throw new RangeError(`seed ${seed} is outside the seed range 0..${MAX_SEED}`);
  const id = mix32(seed);
  // Counter-based draws (splitmix32's step): any seed, 0 included, gives a full stream.
  let counter = seed;
  const rnd = (): number => {
    counter = (counter + 0x9e3779b9) >>> 0;
    return mix32(counter) / 0x100000000;
  };
  const a = [id >>> 24, (id >>> 16) & 255, (id >>> 8) & 255];
  const b = [id & 255, Math.floor(rnd() * 256), Math.floor(rnd() * 256)];
  const disc = [rnd() * 255, rnd() * 255, rnd() * 255];
  const cx = rnd() * width;
  const cy = rnd() * height;
  const r2 = (0.1 + rnd() * 0.25) ** 2 * width * height;
  const span = Math.max(1, width + height - 2);
  // The gradient's colour depends on x + y only: one colour per diagonal.
  const gradient = new Uint8Array((width + height - 1) * 3);
  for (let d = 0; d < width + height - 1; d++) {
    const t = d / span;
    for (let c = 0; c < 3; c++) gradient[d * 3 + c] = (a[c] as number) * (1 - t) + (b[c] as number) * t;
  }
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    // Along a row x + y runs through consecutive diagonals: the row is a slice of the gradient.
    out.set(gradient.subarray(y * 3, (y + width) * 3), row);
    // The disc's pixels in this row are one run around the column nearest its centre (the distance only grows
    // away from it), found with the same test pixel by pixel.
    const dy2 = (y - cy) ** 2;
    const near = Math.min(width - 1, Math.round(cx));
    if (!((near - cx) ** 2 + dy2 < r2)) continue;
    let left = near;
    while (left > 0 && (left - 1 - cx) ** 2 + dy2 < r2) left--;
    let right = near;
    while (right < width - 1 && (right + 1 - cx) ** 2 + dy2 < r2) right++;
    for (let x = left; x <= right; x++) {
      const o = row + x * 3;
      out[o] = disc[0] as number;
      out[o + 1] = disc[1] as number;
      out[o + 2] = disc[2] as number;
    }
  }
  // The two corners keep the gradient's ends, disc or not.
  out.set(gradient.subarray(0, 3), 0);
  out.set(gradient.subarray((width + height - 2) * 3), (width * height - 1) * 3);
  return out;
}
