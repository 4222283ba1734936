// The farm: composes its parts, each with one job (listed in the coordinator
// README), and offers them to the gRPC handlers through api.ts. It decides
// nothing itself. Only the farm's parts use the Store; the fair-share policy
// and the tenants' limits are given from outside (coordinator.ts passes
// TenantShare, and a TenantDirectory over the identity store).
import type { Logger } from '@latentfarm/common';
import type { Hello, Job, JobSpec, PromptEntry, TaskFailure, TaskResult, TaskStep } from '@latentfarm/proto';
import { tenantDefaults, type CoordinatorConfig } from '../config.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Defaults, Limits } from '../jobs/params.js';
import type { CoordinatorMetrics } from '../metrics.js';
import { TenantDirectory } from '../quota/tenant-directory.js';
import type { SharePolicy } from '../scheduling/share-policy.js';
import type { Store } from '../store/store.js';
import type { ClientApi, Submitted, WorkerApi } from './api.js';
import { ResultCommitter } from './committer.js';
import { Completions } from './completions.js';
import { Credits, type CreditsGrant, type CreditsView } from './credits.js';
import { Dispatcher } from './dispatcher.js';
import { FarmStatus, type FarmStatusView } from './farm-status.js';
import { ImageHistory, type RenderedImage } from './images.js';
import { isFinished, JobTable } from './job-table.js';
import { JobService, type JobQuery, type SubmitItem } from './jobs.js';
import { LeaseTable } from './lease-table.js';
import { ModelRegistry } from './model-registry.js';
import { parsePrices, Pricing, type CostEstimate } from './pricing.js';
import { Quarantine } from './quarantine.js';
import { QuotaGate } from './quota-gate.js';
import type { Principal } from './principal.js';
import { StepProgress } from './progress.js';
import { RetentionSweeper } from './retention.js';
import { SharedImageReads } from './shared-image-reads.js';
import { Timers } from './timers.js';
import { JobWatch, type WatchEvent, type WatchOptions } from './watch.js';
import type { WorkerLink, WorkerSession } from './worker-session.js';
import { Workers } from './workers.js';

/** Where credits are kept, and who may hold them. */
export interface FarmAccounts {
  readonly ledger: Ledger;
  readonly tenantExists: (tenantId: string) => Promise<boolean>;
}

export class Farm implements ClientApi, WorkerApi {
  private readonly timers = new Timers();
  private readonly table: JobTable;
  private readonly committer: ResultCommitter;
  private readonly dispatcher: Dispatcher;
  private readonly workers: Workers;
  private readonly jobs: JobService;
  private readonly watch: JobWatch;
  private readonly images: ImageHistory;
  private readonly farmStatus: FarmStatus;
  private readonly accounts: Credits;

  /** `tenants`: each tenant's weight and quotas; without it every tenant gets the config's defaults. */
  constructor(config: CoordinatorConfig, store: Store, metrics: CoordinatorMetrics, log: Logger, policy: SharePolicy, accounts: FarmAccounts, tenants?: TenantDirectory) {
    const { timers } = this;
    const limits: Limits = {
      maxPromptChars: config.maxPromptChars, maxWidth: config.maxWidth, maxHeight: config.maxHeight,
      maxSteps: config.maxSteps, maxCfgScale: config.maxCfgScale, maxImagesPerEntry: config.maxImagesPerJob,
      maxLabels: config.maxLabels, maxLabelKeyChars: config.maxLabelKeyChars, maxLabelValueChars: config.maxLabelValueChars,
      maxLabelsChars: config.maxLabelsChars, maxIdChars: config.maxIdChars,
    };
    const defaults: Defaults = { width: config.defaultWidth, height: config.defaultHeight, steps: config.defaultSteps, cfgScale: config.defaultCfgScale };
    const models = new ModelRegistry({
      accepted: config.models, defaultModel: config.defaultModel, fallbackWidth: config.defaultWidth, fallbackHeight: config.defaultHeight,
      maxWidth: config.maxWidth, maxHeight: config.maxHeight,
    });
    const pricing = new Pricing({ basePixels: config.costBasePixels, baseSteps: config.costBaseSteps, minCredits: config.costMinCredits }, defaults, parsePrices(config.prices));
    const sessions = new Map<string, WorkerSession>();
    const progress = new StepProgress();
    const completions = new Completions();
    const table = new JobTable(store, metrics);
    table.onChange((job) => { if (isFinished(job)) progress.dropJob(job.id); });
    const credits = new Credits({ store, ledger: accounts.ledger, pricing, timers, log: log.child({ part: 'credits' }), tenantExists: accounts.tenantExists });
    // Every coordinator that sees a job end (here or through the store's feed) settles it; the ledger closes it once.
    table.onChange((job, before) => {
      if (isFinished(job) && (before === undefined || !isFinished(before))) credits.settleSoon(job);
    });
    this.accounts = credits;
    const images = new SharedImageReads(store);
    const committer = new ResultCommitter({ store, jobs: table, progress, pricing, completions, images, metrics, log, timers, maxAttempts: config.maxAttempts });
    const leases = new LeaseTable({ store, jobs: table, progress, committer, metrics, log, timers, leaseTtlMs: config.leaseTtlMs });
    const dispatcher = new Dispatcher({ policy, store, jobs: table, leases, sessions, defaults, metrics, log, timers });
    this.table = table;
    this.committer = committer;
    this.dispatcher = dispatcher;
    this.workers = new Workers({
      sessions, leases, committer, dispatcher, progress, models, metrics, log, timers, heartbeatMs: config.heartbeatMs, leaseTtlMs: config.leaseTtlMs,
      quarantine: new Quarantine({ strikes: config.quarantineStrikes, windowMs: config.quarantineMs }), maxIdChars: config.maxIdChars,
      maxWorkerCredit: config.maxWorkerCredit, maxResultBytes: config.maxResultBytes,
    });
    this.jobs = new JobService({
      store, jobs: table, leases, models, pricing, credits, limits, defaults, maxImagesPerJob: config.maxImagesPerJob,
      quotas: new QuotaGate({
        jobs: table, completions, maxQueuedImages: config.maxQueuedImages,
        tenants: tenants ?? new TenantDirectory({ lookup: () => Promise.resolve(undefined), defaults: tenantDefaults(config), ttlMs: config.tenantRefreshMs }),
      }),
      metrics, log, onSubmitted: () => dispatcher.schedule(),
    });
    this.watch = new JobWatch(store, table, progress, config.maxIdChars, images);
    this.images = new ImageHistory(store, table, config.maxIdChars);
    new RetentionSweeper({ store, retainForMs: config.retainFor, retainBytes: config.retainBytes, log, settleFirst: () => credits.reconcile() }).start(timers);
    this.farmStatus = new FarmStatus({ sessions, jobs: table, leases, models, completions, metrics, timers });
  }

  /** Picks up the store's unfinished jobs (a restarted coordinator resumes them). */
  async start(): Promise<void> {
    await this.table.resume((job) => this.committer.checkFinished(job.id));
    // Settles what a crash left open before new work arrives; then every RECONCILE_MS.
    await this.accounts.reconcile();
    this.dispatcher.schedule();
  }

  close(): void {
    this.timers.close();
    this.workers.dropAll('shutdown');
  }

  /**
   * Resolves once the farm has acted on everything it was told so far: no dispatch running or due, no finishing
   * check or credit settlement under way. So a caller (a test) can look at what was leased or finished without waiting a guessed time.
   */
  async settled(): Promise<void> {
    for (;;) {
      const idle = this.dispatcher.whenIdle();
      const finishing = this.committer.pending();
      const settling = this.accounts.pending();
      if (idle !== undefined) await idle;
      else if (finishing.length > 0) await Promise.all(finishing);
      else if (settling.length > 0) await Promise.all(settling);
      else return;
    }
  }

  // ---- clients (RenderFarm) ------------------------------------------------

  submit(principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): Promise<Submitted> {
    return this.jobs.submit(principal, spec, entries);
  }

  submitStream(principal: Principal, items: AsyncIterable<SubmitItem>): Promise<Submitted> {
    return this.jobs.submitStream(principal, items);
  }

  estimate(principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): CostEstimate {
    return this.jobs.estimate(principal, spec, entries);
  }

  job(principal: Principal, jobId: string): Promise<Job> {
    return this.jobs.job(principal, jobId);
  }

  list(principal: Principal, query: JobQuery): Promise<{ jobs: Job[]; nextPageToken: string }> {
    return this.jobs.list(principal, query);
  }

  cancel(principal: Principal, jobId: string): Promise<Job> {
    return this.jobs.cancel(principal, jobId);
  }

  events(principal: Principal, jobId: string, after: number, signal: AbortSignal, options: WatchOptions): AsyncIterable<WatchEvent> {
    return this.watch.events(principal, jobId, after, signal, options);
  }

  image(principal: Principal, imageId: string): Promise<RenderedImage> {
    return this.images.image(principal, imageId);
  }

  status(principal: Principal): FarmStatusView {
    return this.farmStatus.status(principal);
  }

  credits(principal: Principal, tenantId: string, pageSize: number, pageToken: string): Promise<CreditsView> {
    return this.accounts.show(principal, tenantId, pageSize, pageToken);
  }

  grantCredits(principal: Principal, tenantId: string, credits: number, requestId = ''): Promise<CreditsGrant> {
    return this.accounts.grant(principal, tenantId, credits, requestId);
  }

  // ---- workers (WorkerGateway) ---------------------------------------------

  attachWorker(principal: Principal, hello: Hello, link: WorkerLink): WorkerSession {
    return this.workers.attach(principal, hello, link);
  }

  dropWorker(session: WorkerSession, reason: string): void {
    this.workers.drop(session, reason);
  }

  grantCredit(session: WorkerSession, slots: number): void {
    this.workers.grantCredit(session, slots);
  }

  heartbeat(session: WorkerSession): void {
    this.workers.heartbeat(session);
  }

  recordProgress(session: WorkerSession, steps: readonly TaskStep[]): void {
    this.workers.recordProgress(session, steps);
  }

  acceptResult(session: WorkerSession, result: TaskResult): Promise<void> {
    return this.workers.acceptResult(session, result);
  }

  acceptFailure(session: WorkerSession, failure: TaskFailure): Promise<void> {
    return this.workers.acceptFailure(session, failure);
  }

  release(session: WorkerSession, taskIds: readonly string[], epochs: readonly number[]): void {
    this.workers.release(session, taskIds, epochs);
  }
}
