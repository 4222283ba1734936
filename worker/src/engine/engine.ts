// What the worker asks of an engine: render one image; the engine batches.
import { LatentfarmError } from '@latentfarm/common';
import type { ResolvedParams, StageTimings } from '@latentfarm/proto';

export interface RenderRequest {
  readonly taskId: string;
  readonly model: string;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly params: ResolvedParams;
  readonly signal: AbortSignal;
  onStep(step: number, totalSteps: number): void;
}

export interface RenderOutput {
  image: Uint8Array;
  mimeType: string;
  timings: StageTimings;
}

/** Native size and default scheduler of a served model, announced to the coordinator. */
export interface ModelDefaults { readonly name: string; readonly width: number; readonly height: number; readonly scheduler: string }

export interface EngineInfo {
  engine: string;
  provider: string;
  device: string;
  models: string[];
  maxBatch: number;
  readonly modelDefaults: readonly ModelDefaults[];
}

export interface Engine {
  readonly info: EngineInfo;
  render(request: RenderRequest): Promise<RenderOutput>;
  /** Share of time spent computing since the last call, for heartbeats and metrics. */
  takeBusySeconds(): number;
  close(): Promise<void>;
}

/** A task that failed; `retryable` false means no worker can ever render it. */
export class TaskError extends LatentfarmError {
  constructor(message: string, readonly retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class TaskAbortedError extends LatentfarmError {}
