// onnxruntime-node sessions, and tensors shaped to whatever the model's
// inputs declare (fp32 or fp16; int32 or int64; scalar, [1] or [batch]).
import { dirname } from 'node:path';
import { InferenceSession, Tensor, listSupportedBackends } from 'onnxruntime-node';
import { ConfigError } from '@latentfarm/common';
import { f16ToF32, f32ToF16 } from './fp16.js';
import { ModelFolderError } from './model-folder.js';

export const PROVIDERS = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

export { Tensor, type InferenceSession };

/** Fails with one clear line when the execution provider is not installed. */
export function checkProvider(provider: Provider): void {
  const backend = listSupportedBackends().find((b) => b.name === provider);
  if (backend === undefined) {
    throw new ConfigError(`--provider ${provider}: this onnxruntime-node build has no ${provider} execution provider`);
  }
}

/**
 * A model to load: a file, or bytes edited in memory from `file` (whose
 * external weights, model.onnx_data or weights.pb, are still found beside it).
 */
export type ModelSource = string | { readonly bytes: Uint8Array; readonly file: string };

export async function createSession(source: ModelSource, provider: Provider, threads: number): Promise<InferenceSession> {
  checkProvider(provider);
  const file = typeof source === 'string' ? source : source.file;
  const options: InferenceSession.SessionOptions = {
    executionProviders: provider === 'cpu' ? ['cpu'] : [provider, 'cpu'],
    graphOptimizationLevel: 'all',
    // Errors only: with a GPU provider onnxruntime warns, per session, that it
    // placed shape ops on the cpu, which it does on purpose.
    logSeverityLevel: 3,
    extra: {
      session: {
        // Three sessions (text encoder, UNet, VAE) run side by side; spinning
        // idle threads would steal the cores the UNet call needs.
        intra_op: { allow_spinning: '0' },
        // A model loaded from bytes has no path to resolve external data against.
        ...(typeof source === 'string' ? {} : { model_external_initializers_file_folder_path: dirname(file) }),
      },
    },
    ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
  };
  try {
    return await (typeof source === 'string' ? InferenceSession.create(source, options) : InferenceSession.create(source.bytes, options));
  } catch (err) {
    const msg = (err as Error).message;
    if (provider !== 'cpu' && /provider|cuda|tensorrt|webgpu|dawn|vulkan|\.so/i.test(msg)) {
      throw new ConfigError(`--provider ${provider}: the ${provider} execution provider could not start (${msg.split('\n')[0] ?? ''}); ` +
        (provider === 'cuda' || provider === 'tensorrt'
          ? 'install its binaries with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false` (see worker/README.md)'
          : 'webgpu runs over Vulkan: install the Vulkan loader (Debian: libvulkan1) and the GPU driver\'s Vulkan ICD; NVIDIA\'s ICD also needs libglvnd (libglvnd0, libglx0, libegl1)'));
    }
    throw new ModelFolderError(file, `onnxruntime could not load it: ${msg.split('\n')[0] ?? msg}`);
  }
}

export interface InputSpec {
  name: string;
  type: Tensor.Type;
  shape: readonly (number | string)[];
}

export function inputSpec(session: InferenceSession, name: string, file: string): InputSpec {
  const meta = session.inputMetadata.find((m) => m.name === name);
  if (meta === undefined) {
    throw new ModelFolderError(file, `has no input "${name}" (inputs: ${session.inputNames.join(', ')})`);
  }
  if (!meta.isTensor) throw new ModelFolderError(file, `input "${name}" is not a tensor`);
  return { name, type: meta.type, shape: meta.shape };
}

export function outputName(session: InferenceSession, preferred: string, file: string): string {
  if (session.outputNames.includes(preferred)) return preferred;
  const first = session.outputNames[0];
  if (first === undefined) throw new ModelFolderError(file, 'has no outputs');
  return first;
}

/** A float tensor in the dtype the input wants. */
export function floatTensor(spec: InputSpec, data: Float32Array, dims: readonly number[], file: string): Tensor {
  if (spec.type === 'float32') return new Tensor('float32', data, dims);
  if (spec.type === 'float16') return new Tensor('float16', f32ToF16(data), dims);
  throw new ModelFolderError(file, `input "${spec.name}" has type ${spec.type}; expected float32 or float16`);
}

/** An integer-or-float tensor of `values` (timesteps, token ids). */
export function numberTensor(spec: InputSpec, values: ArrayLike<number>, dims: readonly number[], file: string): Tensor {
  switch (spec.type) {
    case 'int64': return new Tensor('int64', BigInt64Array.from(Array.from(values, (v) => BigInt(Math.round(v)))), dims);
    case 'int32': return new Tensor('int32', Int32Array.from(values, (v) => Math.round(v)), dims);
    case 'float32': return new Tensor('float32', Float32Array.from(values), dims);
    case 'float16': return new Tensor('float16', f32ToF16(Float32Array.from(values)), dims);
    default: throw new ModelFolderError(file, `input "${spec.name}" has type ${spec.type}; expected an int or float type`);
  }
}

export function readFloats(t: Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type === 'float16') return f16ToF32(t.data as Uint16Array);
  throw new Error(`expected a float output, got ${t.type}`);
}

/**
 * Wall time during which at least one onnxruntime call was running, for the
 * "time outside onnxruntime" benchmark figure. Overlapping calls count once.
 */
export const onnxBusy = { seconds: 0, inFlight: 0, since: 0 };

export async function timedRun(session: InferenceSession, feeds: InferenceSession.FeedsType): Promise<InferenceSession.ReturnType> {
  if (onnxBusy.inFlight++ === 0) onnxBusy.since = performance.now();
  try {
    return await session.run(feeds);
  } finally {
    if (--onnxBusy.inFlight === 0) onnxBusy.seconds += (performance.now() - onnxBusy.since) / 1000;
  }
}
