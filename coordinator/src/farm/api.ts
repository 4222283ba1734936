// What the farm offers the gRPC handlers, in domain terms. Handlers translate
// proto ↔ these calls and errors ↔ status codes, nothing more. Every client
// call names its principal first; a worker names it once, at hello, and its
// session carries it after.
import type {
  Hello, Job, JobSpec, PromptEntry, TaskFailure, TaskResult, TaskStep,
} from '@latentfarm/proto';
import type { Account } from '../ledger/ledger.js';
import type { CreditsGrant, CreditsView } from './credits.js';
import type { RenderedImage } from './images.js';
import type { JobQuery, SubmitItem } from './jobs.js';
import type { FarmStatusView } from './farm-status.js';
import type { CostEstimate } from './pricing.js';
import type { Principal } from './principal.js';
import type { WatchEvent, WatchOptions } from './watch.js';
import type { WorkerLink, WorkerSession } from './worker-session.js';

export type { Account, CostEstimate, CreditsView, FarmStatusView, JobQuery, RenderedImage, SubmitItem, WatchEvent, WatchOptions };
export type { ImageStepProgress } from './watch.js';

export interface Submitted {
  job: Job;
  /** False when an idempotency key named a job submitted before. */
  created: boolean;
}

/** What RenderFarm's handlers need. */
export interface ClientApi {
  submit(principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): Promise<Submitted>;
  submitStream(principal: Principal, items: AsyncIterable<SubmitItem>): Promise<Submitted>;
  estimate(principal: Principal, spec: JobSpec | undefined, entries: readonly PromptEntry[]): CostEstimate;
  job(principal: Principal, jobId: string): Promise<Job>;
  list(principal: Principal, query: JobQuery): Promise<{ jobs: Job[]; nextPageToken: string }>;
  cancel(principal: Principal, jobId: string): Promise<Job>;
  events(principal: Principal, jobId: string, after: number, signal: AbortSignal, options: WatchOptions): AsyncIterable<WatchEvent>;
  image(principal: Principal, imageId: string): Promise<RenderedImage>;
  status(principal: Principal): FarmStatusView;
  /** A tenant's own credits (an admin's: any tenant's), with a page of ledger entries, newest first. */
  credits(principal: Principal, tenantId: string, pageSize: number, pageToken: string): Promise<CreditsView>;
}

/** What FarmAdmin's credit handlers need. */
export interface CreditsAdminApi {
  /** `requestId` unset or '' for none; with one, a grant sent again is made once (CreditsGrant.granted false). */
  grantCredits(principal: Principal, tenantId: string, credits: number, requestId?: string): Promise<CreditsGrant>;
}

/** What WorkerGateway's handler needs: one session per Connect stream. */
export interface WorkerApi {
  attachWorker(principal: Principal, hello: Hello, link: WorkerLink): WorkerSession;
  dropWorker(session: WorkerSession, reason: string): void;
  grantCredit(session: WorkerSession, slots: number): void;
  heartbeat(session: WorkerSession): void;
  recordProgress(session: WorkerSession, steps: readonly TaskStep[]): void;
  acceptResult(session: WorkerSession, result: TaskResult): Promise<void>;
  acceptFailure(session: WorkerSession, failure: TaskFailure): Promise<void>;
  release(session: WorkerSession, taskIds: readonly string[], epochs: readonly number[]): void;
}
