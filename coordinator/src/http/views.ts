// The farm's answers as the console's JSON (@latentfarm/console's contract):
// enums by name, 64-bit numbers as plain numbers, nothing of protobuf's runtime.
import type {
  CreditsAccountView, CreditsEntryView, CreditsView, EstimateView, FarmView, ImageCountsView, ImageView, JobStateName, JobView, LiveEvent,
} from '@latentfarm/console';
import { FinishReason, ImageFormat, JobState, schedulerByProto, type ImageCounts, type ImageInfo, type Job, type Scheduler } from '@latentfarm/proto';
import type { CostEstimate, CreditsView as LedgerPage, FarmStatusView, WatchEvent } from '../farm/api.js';
import { toCredits } from '../jobs/cost.js';
import type { Account, LedgerEntry } from '../ledger/ledger.js';

export const stateName = (s: JobState): JobStateName => (JobState[s] ?? 'QUEUED') as JobStateName;

export function stateOf(name: string): JobState | undefined {
  const v = (JobState as unknown as Record<string, number | undefined>)[name];
  return v === undefined || v === JobState.UNSPECIFIED || v === JobState.UNRECOGNIZED ? undefined : v as JobState;
}

const schedulerName = (s: Scheduler): string => schedulerByProto(s)?.name ?? '';
const formatName = (f: ImageFormat): string => (f === ImageFormat.UNSPECIFIED ? 'png' : (ImageFormat[f] ?? 'png').toLowerCase());

export function countsView(c: ImageCounts | undefined): ImageCountsView {
  return { total: c?.total ?? 0, succeeded: c?.succeeded ?? 0, failed: c?.failed ?? 0, cancelled: c?.cancelled ?? 0, running: c?.running ?? 0 };
}

export function jobView(j: Job): JobView {
  const p = j.spec?.params;
  const params: JobView['params'] = { scheduler: schedulerName(p?.scheduler ?? 0), format: formatName(p?.outputFormat ?? 0) };
  if (p?.width !== undefined) params.width = p.width;
  if (p?.height !== undefined) params.height = p.height;
  if (p?.steps !== undefined) params.steps = p.steps;
  if (p?.cfgScale !== undefined) params.cfgScale = p.cfgScale;
  if (p?.seed !== undefined) params.seed = p.seed;
  return {
    id: j.id, model: j.spec?.model ?? '', state: stateName(j.state), images: countsView(j.images), prompts: j.promptCount,
    priority: j.spec?.priority ?? 0, labels: { ...j.spec?.labels }, params,
    estimatedCredits: j.estimatedCredits, spentCredits: j.spentCredits,
    createdUnixMs: Number(j.createdUnixMs), startedUnixMs: Number(j.startedUnixMs), finishedUnixMs: Number(j.finishedUnixMs),
    lastSequence: Number(j.lastSequence),
  };
}

export function imageView(info: ImageInfo, finishedUnixMs: number): ImageView {
  const p = info.params;
  return {
    id: info.id, jobId: info.jobId, index: info.index, entryIndex: info.entryIndex, prompt: info.prompt, negativePrompt: info.negativePrompt,
    model: info.model, width: p?.width ?? 0, height: p?.height ?? 0, steps: p?.steps ?? 0, cfgScale: p?.cfgScale ?? 0,
    scheduler: schedulerName(p?.scheduler ?? 0), seed: p?.seed ?? 0, format: formatName(p?.outputFormat ?? 0),
    ok: info.finishReason === FinishReason.SUCCESS, error: info.error, workerId: info.workerId, finishedUnixMs,
  };
}

export function liveEvent(jobId: string, e: WatchEvent): LiveEvent {
  switch (e.kind) {
    case 'state':
      return { kind: 'state', jobId, seq: e.seq, unixMs: e.unixMs, state: stateName(e.state), images: countsView(e.counts), reason: e.reason };
    case 'image':
      return { kind: 'image', jobId, seq: e.seq, unixMs: e.unixMs, image: imageView(e.info, e.unixMs) };
    case 'progress':
      return { kind: 'progress', jobId, seq: e.seq, unixMs: e.unixMs, images: e.images };
  }
}

export function estimateView(e: CostEstimate, prompts: number): EstimateView {
  return { prompts, images: e.images, credits: e.credits, perImageMin: e.creditsPerImageMin, perImageMax: e.creditsPerImageMax, formula: e.formula };
}

export function farmView(s: FarmStatusView): FarmView {
  return {
    workers: s.workers.map((w) => ({
      id: w.id, models: w.models, maxBatch: w.maxBatch, leased: w.leased, provider: w.provider, device: w.device, engine: w.engine,
      imagesCompleted: Number(w.imagesCompleted), connectedUnixMs: Number(w.connectedUnixMs),
      lastSeenUnixMs: s.workerLastSeenUnixMs[w.id] ?? 0, draining: w.draining,
    })),
    models: s.models.map((m) => ({
      name: m.name, workers: m.workers, defaultWidth: m.defaultWidth, defaultHeight: m.defaultHeight,
      defaultScheduler: schedulerName(m.defaultScheduler), queued: s.queuedByModel[m.name] ?? 0,
    })),
    queuedImages: Number(s.queuedImages), leasedImages: Number(s.leasedImages), activeJobs: s.activeJobs,
    imagesPerSecond: s.imagesPerSecond, imagesCompleted: Number(s.imagesCompleted), defaultModel: s.defaultModel, unixMs: Date.now(),
  };
}

function accountView(a: Account): CreditsAccountView {
  return {
    tenantId: a.tenantId, balance: toCredits(a.balance), granted: toCredits(a.granted), reserved: toCredits(a.reserved),
    open: toCredits(a.open), openJobs: a.openJobs, settled: toCredits(a.settled), refunded: toCredits(a.refunded),
  };
}

function entryView(e: LedgerEntry): CreditsEntryView {
  const base = { seq: e.seq, unixMs: e.unixMs, settled: 0, refunded: 0 };
  switch (e.kind) {
    case 'grant': return { ...base, kind: 'grant', jobId: '', amount: toCredits(e.amount) };
    case 'reserve': return { ...base, kind: 'reserve', jobId: e.jobId, amount: toCredits(e.amount) };
    case 'settle': return { ...base, kind: 'settle', jobId: e.jobId, amount: toCredits(e.reserved), settled: toCredits(e.settled), refunded: toCredits(e.refunded) };
  }
}

export function creditsView(page: LedgerPage, admin: boolean): CreditsView {
  return { account: accountView(page.account), admin, entries: page.entries.map(entryView), nextPageToken: page.nextPageToken };
}
