// The console's HTTP JSON contract: what the coordinator's HTTP server
// (coordinator/src/http/) sends and accepts, and what the pages read. Plain
// JSON shapes (enums by name, no protobuf runtime), so the browser bundle
// stays small and the contract is readable in a network tab.

export const JOB_STATES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'PARTIAL', 'FAILED', 'CANCELLED'] as const;
export type JobStateName = (typeof JOB_STATES)[number];

export interface ImageCountsView {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  running: number;
}

/** A job's default parameters as submitted (unset ones are the farm's or the model's defaults). */
export interface JobParamsView {
  width?: number;
  height?: number;
  steps?: number;
  cfgScale?: number;
  /** Empty: the model's own. */
  scheduler: string;
  seed?: number;
  format: string;
}

export interface JobView {
  id: string;
  model: string;
  state: JobStateName;
  images: ImageCountsView;
  prompts: number;
  priority: number;
  labels: Record<string, string>;
  params: JobParamsView;
  estimatedCredits: number;
  spentCredits: number;
  createdUnixMs: number;
  startedUnixMs: number;
  finishedUnixMs: number;
  lastSequence: number;
}

export interface JobPage {
  jobs: JobView[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** One finished image (rendered or failed), with the parameters it was rendered with. */
export interface ImageView {
  id: string;
  jobId: string;
  index: number;
  entryIndex: number;
  prompt: string;
  negativePrompt: string;
  model: string;
  width: number;
  height: number;
  steps: number;
  cfgScale: number;
  scheduler: string;
  seed: number;
  format: string;
  ok: boolean;
  error: string;
  workerId: string;
  /** When the farm committed it. */
  finishedUnixMs: number;
}

export interface StepView {
  imageId: string;
  step: number;
  totalSteps: number;
}

/** A server-sent event of a job (its SSE `id` is `seq`, so a reconnect resumes where it left off). */
export type LiveEvent =
  | { kind: 'state'; jobId: string; seq: number; unixMs: number; state: JobStateName; images: ImageCountsView; reason: string }
  | { kind: 'image'; jobId: string; seq: number; unixMs: number; image: ImageView }
  | { kind: 'progress'; jobId: string; seq: number; unixMs: number; images: StepView[] };

/** What the submit page sends: prompt text (plain lines or JSONL, as the CLI reads files) and the job's parameters. */
export interface SubmitRequest {
  text: string;
  /** `.jsonl` makes the text JSONL; anything else is one prompt per line. */
  filename?: string;
  model?: string;
  width?: number;
  height?: number;
  steps?: number;
  cfgScale?: number;
  scheduler?: string;
  seed?: number;
  format?: string;
  /** Images per prompt for entries that set none. */
  images?: number;
  /** Negative prompt for entries that set none. */
  negativePrompt?: string;
  priority?: number;
  labels?: Record<string, string>;
}

export interface EstimateView {
  prompts: number;
  images: number;
  credits: number;
  perImageMin: number;
  perImageMax: number;
  formula: string;
}

export interface WorkerView {
  id: string;
  models: string[];
  maxBatch: number;
  leased: number;
  provider: string;
  device: string;
  engine: string;
  imagesCompleted: number;
  connectedUnixMs: number;
  lastSeenUnixMs: number;
  draining: boolean;
}

export interface ModelView {
  name: string;
  workers: number;
  defaultWidth: number;
  defaultHeight: number;
  defaultScheduler: string;
  /** Images of this model waiting for a worker. */
  queued: number;
}

export interface FarmView {
  workers: WorkerView[];
  models: ModelView[];
  queuedImages: number;
  leasedImages: number;
  activeJobs: number;
  imagesPerSecond: number;
  imagesCompleted: number;
  defaultModel: string;
  /** When the coordinator took this view. */
  unixMs: number;
}

/** A tenant's credits totals. balance = granted − settled − open. */
export interface CreditsAccountView {
  tenantId: string;
  balance: number;
  granted: number;
  /** Every reservation ever made. */
  reserved: number;
  /** Reservations of jobs not yet ended. */
  open: number;
  openJobs: number;
  settled: number;
  refunded: number;
}

/** One ledger entry. grant: `amount` given; reserve: `amount` held for `jobId`; settle: of `amount` held, `settled` charged and `refunded` returned. */
export interface CreditsEntryView {
  seq: number;
  unixMs: number;
  kind: 'grant' | 'reserve' | 'settle';
  /** Empty for a grant. */
  jobId: string;
  amount: number;
  settled: number;
  refunded: number;
}

/** `GET /api/credits`: the caller's account (an admin's: the one `?tenant=` names) and a page of its entries, newest first. */
export interface CreditsView {
  /** Null for an admin who names no tenant: admins' own jobs are unmetered. */
  account: CreditsAccountView | null;
  /** Whether the caller may name a tenant (`?tenant=`): an admin. */
  admin: boolean;
  entries: CreditsEntryView[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export interface SessionView {
  /** Whether this console asks for an API key. */
  auth: boolean;
  loggedIn: boolean;
}

export interface ErrorView {
  error: string;
}
