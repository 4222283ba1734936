// Iteration-level ("continuous") batching, as LLM servers do for tokens: one
// running batch per group (model and size); an item joins at any step
// boundary while there is room, advances one step per batch call with its
// own timestep, and leaves as soon as it is done, so the batch stays full
// while requests come and go. Groups take turns on the one device.

export interface BatchItem {
  readonly group: string;
  /** Set when the item should leave the batch without finishing (cancel, drain). */
  readonly signal: AbortSignal;
}

export interface StepRunner<T extends BatchItem> {
  /** Runs one batched step for `items` (all of one group). */
  step(group: string, items: readonly T[]): Promise<void>;
  /** True once the item needs no more steps. */
  isDone(item: T): boolean;
  /** Called when an item leaves the batch: done, aborted, or its step threw. Not awaited. */
  leave(item: T, outcome: { error?: unknown; aborted?: boolean }): void;
}

/**
 * `continuous`: items join the running batch at any step boundary.
 * `static`: a batch is formed only when the previous one has finished (the
 * classic one-batch-at-a-time policy, kept for comparison in benchmarks).
 */
export type BatchPolicy = 'continuous' | 'static';

export interface BatchObserver {
  onStep?(group: string, batchSize: number, seconds: number): void;
  /** Host time between the end of one step and the start of the next while items were in hand (bookkeeping, encoding, the event loop). */
  onGap?(seconds: number): void;
  /** The device went idle (nothing left to step: true) or got work again (false). It starts idle. */
  onIdle?(idle: boolean): void;
}

export class ContinuousBatcher<T extends BatchItem> {
  private readonly waiting = new Map<string, T[]>();
  private readonly running = new Map<string, T[]>();
  private turn = 0;
  private loop: Promise<void> | undefined;
  private busySeconds = 0;

  constructor(
    private readonly maxBatch: number,
    private readonly runner: StepRunner<T>,
    private readonly observer: BatchObserver = {},
    private readonly policy: BatchPolicy = 'continuous',
  ) {}

  get size(): number {
    let n = 0;
    for (const q of this.waiting.values()) n += q.length;
    for (const q of this.running.values()) n += q.length;
    return n;
  }

  /** Seconds spent inside step calls since the last call of this method. */
  takeBusySeconds(): number {
    const s = this.busySeconds;
    this.busySeconds = 0;
    return s;
  }

  add(item: T): void {
    let q = this.waiting.get(item.group);
    if (q === undefined) this.waiting.set(item.group, (q = []));
    q.push(item);
    // The loop starts a microtask later, so items added in one go (a lease of several tasks) start in one step
    // rather than the first alone and the rest a step behind it.
    this.loop ??= Promise.resolve().then(() => this.run()).finally(() => { this.loop = undefined; });
  }

  private nextGroup(): string | undefined {
    const groups = [...new Set([...this.running.keys(), ...this.waiting.keys()])];
    if (groups.length === 0) return undefined;
    return groups[this.turn++ % groups.length];
  }

  private async run(): Promise<void> {
    this.observer.onIdle?.(false);
    try {
      await this.steps();
    } finally {
      this.observer.onIdle?.(true);
    }
  }

  private async steps(): Promise<void> {
    let lastEnd: number | undefined;
    for (let group = this.nextGroup(); group !== undefined; group = this.nextGroup()) {
      const batch = this.fill(group);
      if (batch.length === 0) continue;
      const t0 = performance.now();
      if (lastEnd !== undefined) this.observer.onGap?.((t0 - lastEnd) / 1000);
      try {
        await this.runner.step(group, batch);
      } catch (error) {
        // A failed call fails the items in it, not the worker.
        this.running.delete(group);
        for (const item of batch) this.runner.leave(item, { error });
        lastEnd = performance.now();
        continue;
      }
      const seconds = (performance.now() - t0) / 1000;
      this.busySeconds += seconds;
      this.observer.onStep?.(group, batch.length, seconds);
      const stay = batch.filter((item) => {
        if (this.runner.isDone(item)) {
          this.runner.leave(item, {});
          return false;
        }
        return true;
      });
      if (stay.length > 0) this.running.set(group, stay);
      else this.running.delete(group);
      lastEnd = t0 + seconds * 1000;
    }
  }

  /** The group's running items, topped up from its waiting line; aborted items leave here. */
  private fill(group: string): T[] {
    const batch = (this.running.get(group) ?? []).filter((item) => this.keep(item));
    const q = this.waiting.get(group) ?? [];
    const admit = this.policy === 'continuous' || batch.length === 0;
    while (admit && batch.length < this.maxBatch && q.length > 0) {
      const item = q.shift() as T;
      if (this.keep(item)) batch.push(item);
    }
    if (q.length === 0) this.waiting.delete(group);
    if (batch.length > 0) this.running.set(group, batch);
    else this.running.delete(group);
    return batch;
  }

  private keep(item: T): boolean {
    if (!item.signal.aborted) return true;
    this.runner.leave(item, { aborted: true });
    return false;
  }
}
