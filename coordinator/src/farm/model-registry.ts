// Which models this farm accepts, which workers serve them, and what a job for
// each gets when it sets no size or scheduler. Pure bookkeeping: the Farm
// feeds it worker hellos and departures, and asks it at submit.
import { InvalidArgumentError, NotFoundError } from '@latentfarm/common';
import { Scheduler, type Hello, type ModelStatus } from '@latentfarm/proto';

/** Size and scheduler a job gets when it sets none. */
export interface ModelParams {
  readonly width: number;
  readonly height: number;
  /** UNSPECIFIED: each worker uses its model's own scheduler_config.json. */
  readonly scheduler: Scheduler;
  /** True when a connected worker announced them (the model's own), false for the coordinator's defaults. */
  readonly native: boolean;
}

export interface ModelRegistryOptions {
  /** Models accepted before any worker serves them (`--models`): their jobs wait queued. */
  readonly accepted: readonly string[];
  /** `--default-model`; empty: the rule in `defaultModel()` picks. */
  readonly defaultModel: string;
  /** The coordinator's own size, for models no connected worker announced one for. */
  readonly fallbackWidth: number;
  readonly fallbackHeight: number;
  /** Announced sizes above these are ignored (a job could not ask for them either). */
  readonly maxWidth: number;
  readonly maxHeight: number;
}

/** The load-test engine's model: a default only when no real model is there. */
export const SIM_MODEL = 'sim';
/** Longest model name echoed back in a message. */
const ECHO_CHARS = 64;

export class UnknownModelError extends NotFoundError {
  constructor(readonly model: string, served: readonly string[]) {
    const name = echo(model);
    super(`model "${name}" is not served by this farm (${served.length > 0 ? `served now: ${served.join(', ')}` : 'no worker serves a model now'}); `
      + `start a worker for it (latentfarm worker --engine onnx --model-dir <folder>/${name}), `
      + `or start the coordinator with --models ${name} to accept its jobs before any worker connects (they wait queued)`);
  }
}

interface Announcement {
  readonly models: readonly string[];
  readonly defaults: ReadonlyMap<string, ModelParams>;
}

export class ModelRegistry {
  /** Connected workers in the order they connected: the first announcement of a model wins. */
  private readonly workers = new Map<string, Announcement>();

  constructor(private readonly options: ModelRegistryOptions) {}

  /** Records what a worker serves. Returns one line per problem with its announcement, for the log. */
  attach(workerId: string, hello: Hello): string[] {
    this.workers.delete(workerId);
    const problems: string[] = [];
    const defaults = new Map<string, ModelParams>();
    for (const d of hello.modelDefaults) {
      const problem = !hello.models.includes(d.name) ? 'a model it does not serve'
        : !fitsSize(d.width, this.options.maxWidth) || !fitsSize(d.height, this.options.maxHeight)
          ? `size ${d.width}×${d.height} (not a multiple of 8 up to ${this.options.maxWidth}×${this.options.maxHeight})`
          : !(d.scheduler in Scheduler) || d.scheduler === Scheduler.UNRECOGNIZED ? `unknown scheduler ${d.scheduler}` : undefined;
      if (problem !== undefined) {
        problems.push(`defaults announced for "${echo(d.name)}" ignored: ${problem}`);
        continue;
      }
      const params: ModelParams = { width: d.width, height: d.height, scheduler: d.scheduler, native: true };
      const current = this.announced(d.name);
      if (current !== undefined && !sameParams(current.params, params)) {
        problems.push(`announces ${describeParams(d.name, params)}, but worker ${current.workerId} announced ${describeParams(d.name, current.params)} first: jobs get that`);
      }
      defaults.set(d.name, params);
    }
    this.workers.set(workerId, { models: [...hello.models], defaults });
    return problems;
  }

  detach(workerId: string): void {
    this.workers.delete(workerId);
  }

  /** Accepted in jobs: served by a connected worker, listed in `--models`, or the `--default-model`. */
  isAccepted(model: string): boolean {
    return this.servers(model) > 0 || this.options.accepted.includes(model) || model === this.options.defaultModel;
  }

  /** The model a job runs on: the one it names, else the farm's default. Throws what the caller should see. */
  resolve(requested: string): string {
    if (requested === '') {
      const d = this.defaultModel();
      if ('error' in d) throw new InvalidArgumentError('spec.model', `missing, and ${d.error}`);
      return d.model;
    }
    if (!this.isAccepted(requested)) throw new UnknownModelError(requested, this.served());
    return requested;
  }

  /**
   * The model of a job that names none: `--default-model`; else the one model
   * the farm serves or accepts besides sim; else sim when a worker serves it
   * (a load-test farm); else none, with the reason.
   */
  defaultModel(): { model: string } | { error: string } {
    if (this.options.defaultModel !== '') return { model: this.options.defaultModel };
    const real = this.names().filter((m) => m !== SIM_MODEL);
    if (real.length === 1) return { model: real[0] as string };
    if (real.length > 1) return { error: `this farm serves several models (${real.map(echo).join(', ')}): name one, or start the coordinator with --default-model` };
    if (this.servers(SIM_MODEL) > 0) return { model: SIM_MODEL };
    return { error: 'no worker serves a model yet: name one, start a worker, or start the coordinator with --default-model' };
  }

  /** What a job for `model` gets when it sets no size or scheduler. */
  defaultsFor(model: string): ModelParams {
    return this.announced(model)?.params ?? {
      width: this.options.fallbackWidth, height: this.options.fallbackHeight, scheduler: Scheduler.UNSPECIFIED, native: false,
    };
  }

  /** Every model the farm knows of: accepted ones first, then the ones workers serve, in connection order. */
  names(): string[] {
    const out = new Set(this.options.accepted);
    if (this.options.defaultModel !== '') out.add(this.options.defaultModel);
    for (const w of this.workers.values()) for (const m of w.models) out.add(m);
    return [...out];
  }

  status(): ModelStatus[] {
    return this.names().map((name) => {
      const d = this.defaultsFor(name);
      return { name, workers: this.servers(name), defaultWidth: d.width, defaultHeight: d.height, defaultScheduler: d.scheduler, native: d.native };
    });
  }

  /** The default model's name, or '' when a job that names none would be refused. */
  defaultModelName(): string {
    const d = this.defaultModel();
    return 'model' in d ? d.model : '';
  }

  private servers(model: string): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.models.includes(model)) n++;
    return n;
  }

  private served(): string[] {
    const out = new Set<string>();
    for (const w of this.workers.values()) for (const m of w.models) out.add(m);
    return [...out].map(echo);
  }

  private announced(model: string): { workerId: string; params: ModelParams } | undefined {
    for (const [workerId, w] of this.workers) {
      const params = w.defaults.get(model);
      if (params !== undefined) return { workerId, params };
    }
    return undefined;
  }
}

const fitsSize = (v: number, max: number): boolean => v > 0 && v % 8 === 0 && v <= max;
const sameParams = (a: ModelParams, b: ModelParams): boolean => a.width === b.width && a.height === b.height && a.scheduler === b.scheduler;
const describeParams = (model: string, p: ModelParams): string => `${echo(model)} at ${p.width}×${p.height} (${Scheduler[p.scheduler] ?? p.scheduler})`;
const echo = (s: string): string => (s.length > ECHO_CHARS ? `${s.slice(0, ECHO_CHARS)}…` : s);
