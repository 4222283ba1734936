// The worker's side of WorkerGateway.Connect: dial, say hello, grant credit,
// render what is leased, report progress and results; reconnect with backoff.
import { credentials, Metadata, status, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { AlreadyExistsError, backoffMs, sleep, type Logger } from '@latentfarm/common';
import {
  Scheduler, WorkerGatewayClient, schedulerByName,
  type ConnectRequest, type ConnectResponse, type ModelDefaults as WireModelDefaults, type Task, type TaskStep,
} from '@latentfarm/proto';
import type { WorkerConfig } from './config.js';
import { TaskAbortedError, TaskError, type Engine, type ModelDefaults } from './engine/engine.js';
import type { WorkerMetrics } from './metrics.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

interface Held {
  readonly task: Task;
  readonly abort: AbortController;
  readonly generation: number;
  started: boolean;
}

export class Worker {
  private clients: WorkerGatewayClient[];
  private client: WorkerGatewayClient;
  private address: string;
  private readonly held = new Map<string, Held>();
  private readonly pendingSteps = new Map<string, TaskStep>();
  /** Slots freed since the last credit message, and the stream they belong to (see grantCredit). */
  private owedCredit = { generation: 0, slots: 0 };
  private call: ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  /** Counts Connect streams: work from an older stream is worthless (its leases went back). */
  private generation = 0;
  private draining = false;
  private stopped = false;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly progressTimer: NodeJS.Timeout;
  private heartbeatMs: number;
  private idle: (() => void) | undefined;
  private readonly done: Promise<void>;
  private readonly welcomed: Promise<void>;
  private onWelcome: () => void = () => undefined;
  /** Why the last stream ended in an error (grpc-js's details), for the reconnect line. */
  private lastError: string | undefined;
  /** Set when another process took this worker's id: the worker stops, and wait() rejects with it. */
  private displaced: AlreadyExistsError | undefined;

  constructor(
    private readonly config: WorkerConfig,
    private readonly engine: Engine,
    private readonly metrics: WorkerMetrics,
    private readonly log: Logger,
    channel: ChannelCredentials = credentials.createInsecure(),
    /** Reads the TLS files again (a certificate renewed in place): called before each reconnect. */
    private readonly renewChannel?: () => Promise<ChannelCredentials>,
  ) {
    this.clients = this.dial(channel);
    this.client = this.clients[0] as WorkerGatewayClient;
    this.address = config.coordinator[0] ?? '';
    this.heartbeatMs = config.heartbeatMs;
    this.progressTimer = setInterval(() => this.flushProgress(), config.progressMs);
    this.progressTimer.unref();
    this.welcomed = new Promise((resolve) => { this.onWelcome = resolve; });
    this.done = this.connectLoop();
  }

  private dial(channel: ChannelCredentials): WorkerGatewayClient[] {
    return this.config.coordinator.map((address) => new WorkerGatewayClient(address, channel, {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      'grpc.keepalive_time_ms': 20_000,
      'grpc.keepalive_timeout_ms': 10_000,
    }));
  }

  /**
   * New channels with the TLS files as they are now, so a certificate renewed
   * in place (cert-manager's csi-driver) is presented at the next handshake;
   * files that cannot be used right now (mid-rotation) leave the old ones.
   */
  private async renewClients(): Promise<void> {
    if (this.renewChannel === undefined) return;
    try {
      const channel = await this.renewChannel();
      for (const c of this.clients) c.close();
      this.clients = this.dial(channel);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'TLS files unusable; reconnecting with those read before');
    }
  }

  /** Resolves when the worker has stopped (drained, or closed); rejects if another process took its id. */
  async wait(): Promise<void> {
    await this.done;
    if (this.displaced !== undefined) throw this.displaced;
  }

  /**
   * Resolves once a coordinator has welcomed this worker, so it knows the
   * models served here and their defaults (a job submitted after that gets them).
   */
  connected(): Promise<void> {
    return this.welcomed;
  }

  get heldTasks(): number {
    return this.held.size;
  }

  private async connectLoop(): Promise<void> {
    let attempt = 0;
    let turn = 0;
    while (!this.stopped) {
      // With several coordinators, each reconnect tries the next one.
      this.client = this.clients[turn % this.clients.length] as WorkerGatewayClient;
      this.address = this.config.coordinator[turn % this.clients.length] ?? '';
      turn++;
      const welcomed = await this.session();
      this.abortAll();
      if (this.stopped || this.draining || this.displaced !== undefined) break;
      if (welcomed) attempt = 0;
      else this.metrics.reconnects.inc();
      const delay = backoffMs(attempt++, this.config.reconnectBaseMs, this.config.reconnectMaxMs);
      // The reason says what to fix when the stream never started (a TLS handshake refused, a certificate not trusted).
      this.log.warn({ coordinator: this.address, retryInMs: delay, reason: this.lastError }, 'connection to coordinator lost; reconnecting');
      await sleep(delay);
      if (!this.stopped) await this.renewClients();
    }
    this.stopped = true;
    clearInterval(this.progressTimer);
    for (const c of this.clients) c.close();
  }

  /** One Connect stream, until it ends. True if the coordinator welcomed us. */
  private session(): Promise<boolean> {
    return new Promise((resolve) => {
      const generation = ++this.generation;
      this.lastError = undefined;
      const metadata = new Metadata();
      if (this.config.apiKey !== '') metadata.set('authorization', `Bearer ${this.config.apiKey}`);
      const call = this.client.connect(metadata);
      this.call = call;
      let welcomed = false;
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        if (this.call === call) this.call = undefined;
        clearInterval(this.heartbeatTimer);
        this.metrics.connected.set(0);
        resolve(welcomed);
      };
      call.on('data', (m: ConnectResponse) => {
        if (m.message?.$case === 'welcome') {
          welcomed = true;
          this.onWelcome();
          this.heartbeatMs = m.message.value.heartbeatIntervalMs || this.heartbeatMs;
          this.metrics.connected.set(1);
          this.startHeartbeats();
          this.log.info({ coordinator: this.address }, 'connected');
          if (!this.draining) this.send({ message: { $case: 'credit', value: { slots: this.config.maxBatch + this.config.prefetch } } });
        } else {
          this.onMessage(m, generation);
        }
      });
      call.on('error', (err: ServiceError) => {
        // A refused identity (a key, or with mTLS a hello that is not its certificate's name) is not a network blip:
        // say so loudly (it keeps retrying: the key or certificate may be fixed meanwhile).
        if (err.code === status.UNAUTHENTICATED || err.code === status.PERMISSION_DENIED) this.log.error({ coordinator: this.address, code: status[err.code], err: err.details }, `coordinator refused this worker: ${err.details}`);
        else if (err.code === status.ALREADY_EXISTS && welcomed) this.displace(err.details);
        else this.log.debug({ err: err.message }, 'stream error');
        this.lastError = err.details;
        end();
      });
      call.on('status', end);
      call.on('end', end);
      const info = this.engine.info;
      call.write({
        message: {
          $case: 'hello',
          value: {
            workerId: this.config.id, models: info.models, maxBatch: info.maxBatch, provider: info.provider,
            device: info.device, engine: info.engine, version: '0.1.0', modelDefaults: info.modelDefaults.map(toWire),
          },
        },
      });
    });
  }

  /**
   * The coordinator ended this live stream because a newer one connected with this worker's id. This process never
   * opens a second stream while one is up, so the newer one is another process: two workers sharing an id would
   * take it from each other at every reconnect, each time losing the images the other held. This one stops instead.
   */
  private displace(details: string): void {
    this.displaced = new AlreadyExistsError(`${details} at ${this.address}: two worker processes must not share an id ` +
      '(--id, or the id an API key or certificate names); this one stops');
    this.log.error({ coordinator: this.address }, this.displaced.message);
  }

  private send(m: ConnectRequest): void {
    this.call?.write(m);
  }

  private onMessage(m: ConnectResponse, generation: number): void {
    switch (m.message?.$case) {
      case 'lease':
        // Leases that crossed our drain on the wire go straight back.
        if (this.draining) this.releaseUnstarted(m.message.value.tasks);
        else for (const task of m.message.value.tasks) this.start(task, generation);
        break;
      case 'cancel':
        for (const id of m.message.value.taskIds) this.held.get(id)?.abort.abort();
        break;
      case 'drain':
        this.log.info('coordinator asked us to drain');
        this.drain().catch((err: unknown) => this.log.error({ err }, 'drain failed'));
        break;
      default:
        break;
    }
  }

  private start(task: Task, generation: number): void {
    const params = task.params;
    if (params === undefined) return;
    const held: Held = { task, abort: new AbortController(), generation, started: false };
    this.held.set(task.taskId, held);
    this.metrics.tasksHeld.set(this.held.size);
    this.engine.render({
      taskId: task.taskId, model: task.model, prompt: task.prompt, negativePrompt: task.negativePrompt, params,
      signal: held.abort.signal,
      onStep: (step, totalSteps) => {
        held.started = true;
        if (held.generation === this.generation) this.pendingSteps.set(task.taskId, { taskId: task.taskId, epoch: task.epoch, step, totalSteps });
      },
    }).then((out) => {
      this.metrics.imagesRendered.inc({ model: task.model });
      const t = out.timings;
      this.metrics.stageSeconds.observe({ stage: 'text_encode' }, t.textEncodeSeconds);
      this.metrics.stageSeconds.observe({ stage: 'unet' }, t.unetSeconds);
      this.metrics.stageSeconds.observe({ stage: 'vae' }, t.vaeSeconds);
      this.metrics.stageSeconds.observe({ stage: 'encode' }, t.encodeSeconds);
      if (held.generation !== this.generation) return;
      this.send({
        message: {
          $case: 'result',
          value: { taskId: task.taskId, epoch: task.epoch, image: Buffer.from(out.image.buffer, out.image.byteOffset, out.image.byteLength), mimeType: out.mimeType, timings: t },
        },
      });
    }, (err: unknown) => {
      if (err instanceof TaskAbortedError || held.abort.signal.aborted) return;
      const retryable = !(err instanceof TaskError) || err.retryable;
      const reason = err instanceof Error ? err.message : String(err);
      this.metrics.imagesFailed.inc({ model: task.model, retryable: String(retryable) });
      this.log.warn({ job: task.jobId, task: task.taskId, err: reason, retryable }, 'render failed');
      if (held.generation === this.generation) this.send({ message: { $case: 'failure', value: { taskId: task.taskId, epoch: task.epoch, reason, retryable } } });
    }).finally(() => {
      this.held.delete(task.taskId);
      this.pendingSteps.delete(task.taskId);
      this.metrics.tasksHeld.set(this.held.size);
      if (!this.draining && held.generation === this.generation) this.grantCredit(held.generation);
      if (this.held.size === 0) this.idle?.();
    });
  }

  /**
   * One freed slot, granted back to the coordinator. The images of a batch finish at the same step boundary, so the
   * slots freed in one turn of the event loop go out as one credit message (and the coordinator runs one dispatch
   * for them) instead of one message per image.
   */
  private grantCredit(generation: number): void {
    if (this.owedCredit.generation !== generation) this.owedCredit = { generation, slots: 0 };
    if (this.owedCredit.slots++ > 0) return;
    setImmediate(() => {
      const { generation: g, slots } = this.owedCredit;
      this.owedCredit = { generation: g, slots: 0 };
      if (slots > 0 && !this.draining && g === this.generation) this.send({ message: { $case: 'credit', value: { slots } } });
    });
  }

  private flushProgress(): void {
    if (this.pendingSteps.size === 0) return;
    this.send({ message: { $case: 'progress', value: { steps: [...this.pendingSteps.values()] } } });
    this.pendingSteps.clear();
  }

  private startHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    let last = performance.now();
    this.heartbeatTimer = setInterval(() => {
      const now = performance.now();
      const busyRatio = Math.min(1, this.engine.takeBusySeconds() / ((now - last) / 1000));
      last = now;
      this.metrics.busyRatio.set(busyRatio);
      this.send({ message: { $case: 'heartbeat', value: { busyRatio } } });
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private abortAll(): void {
    for (const h of this.held.values()) h.abort.abort();
    this.pendingSteps.clear();
  }

  /** Hands back `tasks` unfinished, so the coordinator leases them elsewhere at once. */
  private release(held: Held[]): void {
    if (held.length === 0) return;
    for (const h of held) h.abort.abort();
    this.releaseUnstarted(held.map((h) => h.task));
  }

  private releaseUnstarted(tasks: readonly Task[]): void {
    this.send({ message: { $case: 'release', value: { taskIds: tasks.map((t) => t.taskId), epochs: tasks.map((t) => t.epoch) } } });
  }

  /**
   * Stops taking work: images not started go back at once, running ones may
   * finish within the drain timeout, the rest go back; then the stream closes.
   */
  async drain(): Promise<void> {
    if (this.draining) return this.done;
    this.draining = true;
    this.release([...this.held.values()].filter((h) => !h.started));
    if (this.held.size > 0) {
      await Promise.race([
        new Promise<void>((resolve) => { this.idle = resolve; }),
        sleep(this.config.drainTimeoutMs, undefined, { ref: false }),
      ]);
    }
    this.flushProgress();
    this.release([...this.held.values()]);
    await this.close();
  }

  /** Ends the stream and stops reconnecting. */
  async close(): Promise<void> {
    this.stopped = true;
    const call = this.call;
    if (call !== undefined) {
      call.end();
      await Promise.race([this.done, sleep(2000, undefined, { ref: false })]);
      call.cancel();
    }
    await this.done;
    await this.engine.close();
  }
}

/** A model's defaults as the hello carries them: the scheduler kind as the wire's enum (UNSPECIFIED for a kind it lacks). */
function toWire(d: ModelDefaults): WireModelDefaults {
  return { name: d.name, width: d.width, height: d.height, scheduler: schedulerByName(d.scheduler)?.proto ?? Scheduler.UNSPECIFIED };
}
