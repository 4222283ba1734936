// Loads the UNet so that, where it can, each batch row carries its own
// timestep: a UNet declaring one scalar timestep is adapted in memory (see
// onnx-graph.ts); the user's files are only read. When the graph does not have
// the expected shape, the model is loaded as it is and rows are grouped by
// timestep, one call per group.
import { readFile } from 'node:fs/promises';
import { adaptScalarTimestep } from './onnx-graph.js';
import type { OnnxInput } from './onnx-interface.js';
import { createSession, type InferenceSession, type Provider } from './onnx-session.js';

export const UNET_TIMESTEP_MODES = ['adapt', 'group'] as const;
/** `adapt`: edit a scalar-timestep graph in memory; `group`: never edit, group rows by timestep. */
export type UnetTimestepMode = (typeof UNET_TIMESTEP_MODES)[number];

/** How rows at different timesteps share a call: natively, through the adapted graph, or not (grouped). */
export type UnetTimestepHandling = 'per-sample' | 'adapted' | 'grouped';

export interface UnetSession {
  readonly session: InferenceSession;
  readonly handling: UnetTimestepHandling;
  /** Why, in a few words, for the start log. */
  readonly detail: string;
}

const isScalar = (input: OnnxInput | undefined): boolean => input?.shape !== undefined && input.shape.length === 0;

/** True when the session takes one timestep per row ([batch] with a symbolic batch). */
export function takesTimestepPerRow(session: InferenceSession): boolean {
  const meta = session.inputMetadata.find((m) => m.name === 'timestep');
  return meta !== undefined && meta.isTensor && meta.shape.length === 1 && typeof meta.shape[0] !== 'number';
}

export async function createUnetSession(
  file: string, declaredTimestep: OnnxInput | undefined, mode: UnetTimestepMode, provider: Provider, threads: number,
): Promise<UnetSession> {
  let reason: string;
  if (mode === 'group') reason = '--unet-timestep group';
  else if (!isScalar(declaredTimestep)) reason = 'the timestep is not a scalar';
  else {
    let result: ReturnType<typeof adaptScalarTimestep>;
    try {
      result = adaptScalarTimestep(await readFile(file));
    } catch (err) {
      // Not parseable: load the file as it is and let onnxruntime say what is wrong with it.
      result = { adapted: false, reason: `graph not readable (${(err as Error).message})` };
    }
    if (result.adapted) {
      const session = await createSession({ bytes: result.bytes, file }, provider, threads);
      return { session, handling: 'adapted', detail: `scalar timestep adapted in memory (${result.replacedNode}: Unsqueeze → Reshape [-1])` };
    }
    reason = result.reason;
  }
  const session = await createSession(file, provider, threads);
  return takesTimestepPerRow(session)
    ? { session, handling: 'per-sample', detail: 'one timestep per row, as exported' }
    : { session, handling: 'grouped', detail: `rows grouped by timestep: ${reason}` };
}
