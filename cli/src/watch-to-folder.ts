// Follows a job to its end: writes each finished image into a folder, shows a
// progress bar, and with --json prints each durable event as the WatchJob
// message it came in (proto3 JSON).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FinishReason, WatchJobResponse, type Job } from '@latentfarm/proto';
import type { FarmClient, WatchEvent } from '@latentfarm/client';
import { fileProblem } from './file-errors.js';
import { isFinished, JobRate, Tally } from './job-progress.js';
import { printErr, printJson, ProgressBar } from './output.js';

const EXT: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };

export interface WatchSummary {
  /** The job as GetJob reports it once the watch has ended: its final state and counts. */
  job: Job;
  written: number;
  lastSequence: number;
}

export interface FollowOptions {
  afterSequence?: number;
  /** No progress bar and no per-image failure lines. */
  quiet?: boolean;
  /** Print each state change and finished image as a WatchJobResponse JSON line on stdout. */
  json?: boolean;
}

/** The folder for images, made up front so a path that cannot be a folder fails before anything is watched. */
export async function makeOutFolder(out: string, flag = '--out'): Promise<void> {
  try {
    await mkdir(out, { recursive: true });
  } catch (err) {
    throw fileProblem(err, flag) ?? err;
  }
}

/** The WatchJob message an event came in, for --json (images without their bytes: those go to files). */
function asMessage(ev: Exclude<WatchEvent, { type: 'progress' }>): unknown {
  return WatchJobResponse.toJSON(ev.type === 'state'
    ? { sequence: ev.sequence, unixMs: ev.unixMs, event: { $case: 'state', value: { state: ev.state, images: ev.counts, reason: ev.reason } } }
    : { sequence: ev.sequence, unixMs: ev.unixMs, event: { $case: 'image', value: { info: ev.info, data: Buffer.alloc(0), chunkIndex: 0, lastChunk: true } } });
}

export async function watchToFolder(client: FarmClient, jobId: string, out: string | undefined, opts: FollowOptions = {}): Promise<WatchSummary> {
  if (out !== undefined) await makeOutFolder(out);
  const afterSequence = opts.afterSequence ?? 0;
  const start = await client.getJob(jobId);
  const total = start.images?.total ?? 0;
  const bar = new ProgressBar(jobId, total);
  const tally = new Tally(start);
  const rate = new JobRate(start, afterSequence > 0);
  let written = 0;
  let lastSequence = afterSequence;
  let end: Extract<WatchEvent, { type: 'state' }> | undefined;
  const steps = new Map<string, string>();
  const show = (final = false) => {
    if (opts.quiet === true) return;
    const running = [...steps.values()][0];
    bar.update(Math.min(tally.done, total), tally.failed, rate.perSecond, rate.seconds, running !== undefined && !final ? `step ${running}` : '', final);
  };
  // A finished job with nothing after --after has nothing to stream (older coordinators would wait forever).
  const nothingLeft = isFinished(start.state) && afterSequence >= start.lastSequence;
  const events = nothingLeft ? [] : client.watch(jobId, { afterSequence, referencesOnly: out === undefined });
  for await (const ev of events) {
    if (ev.type === 'progress') {
      for (const s of ev.images) steps.set(s.imageId, `${s.step}/${s.totalSteps}`);
      show();
      continue;
    }
    tally.see(ev);
    rate.see(ev);
    if (ev.type === 'state' && isFinished(ev.state)) end = ev;
    lastSequence = ev.sequence;
    if (opts.json === true) printJson(asMessage(ev));
    if (ev.type === 'image') {
      steps.delete(ev.info.id);
      if (ev.info.finishReason !== FinishReason.SUCCESS) {
        if (opts.quiet !== true) printErr(`\nimage ${ev.info.id} failed: ${ev.info.error}`);
      } else if (out !== undefined) {
        await writeFile(join(out, `${String(ev.info.index).padStart(5, '0')}.${EXT[ev.info.mimeType] ?? 'bin'}`), ev.data);
        written++;
      }
    }
    show();
  }
  // The stream ends at the job's final event, or at once when there was nothing after --after. That event is the
  // job's end (written once, fenced); GetJob answered by a coordinator that has not yet seen the record change (another
  // coordinator ended the job a moment ago) may still say RUNNING, so the event's state and counts win.
  const got = await client.getJob(jobId);
  const job = end !== undefined && !isFinished(got.state)
    ? { ...got, state: end.state, images: end.counts, finishedUnixMs: end.unixMs }
    : got;
  if (opts.quiet !== true) {
    tally.done = (job.images?.succeeded ?? 0) + (job.images?.failed ?? 0);
    tally.failed = job.images?.failed ?? 0;
    show(true);
    bar.finish();
  }
  return { job, written, lastSequence };
}
