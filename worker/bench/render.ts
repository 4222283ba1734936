// Shared by the pipeline benchmark and the model evaluation: an onnx engine
// (on the bundled model unless told otherwise) and a one-call render.
import { ImageFormat, Scheduler } from '@latentfarm/proto';
import type { BatchPolicy } from '../src/batching/continuous-batcher.js';
import type { RenderOutput } from '../src/engine/engine.js';
import { OnnxEngine, type OnnxOptions } from '../src/engine/onnx.js';
import type { Provider } from '../src/pipeline/onnx-session.js';

export const MODEL_DIR = new URL('../../models/shapes-ldm/', import.meta.url).pathname;
export const MODEL = 'shapes-ldm';

export function engine(
  maxBatch: number, policy: BatchPolicy = 'continuous', provider: Provider = 'cpu',
  more: { modelDir?: string } & Pick<OnnxOptions, 'unetTimestep' | 'onUnetCall'> = {},
): Promise<OnnxEngine> {
  const { modelDir = MODEL_DIR, ...rest } = more;
  return OnnxEngine.create({ modelDirs: [modelDir], provider, maxBatch, threads: 0, batchPolicy: policy, ...rest });
}

export interface RenderArgs {
  prompt: string;
  seed: number;
  steps?: number;
  cfg?: number;
  scheduler?: Scheduler;
  size?: number;
  negative?: string;
}

let n = 0;
export function render(e: OnnxEngine, a: RenderArgs, onStep: (step: number, total: number) => void = () => undefined): Promise<RenderOutput> {
  return e.render({
    taskId: `bench/${n++}`, model: e.info.models[0] ?? MODEL, prompt: a.prompt, negativePrompt: a.negative ?? '',
    params: {
      width: a.size ?? 64, height: a.size ?? 64, steps: a.steps ?? 25, cfgScale: a.cfg ?? 5,
      scheduler: a.scheduler ?? Scheduler.DDIM, seed: a.seed, outputFormat: ImageFormat.PNG,
    },
    signal: new AbortController().signal, onStep,
  });
}
