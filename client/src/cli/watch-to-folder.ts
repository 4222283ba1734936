// Watches a job and writes each finished image into a folder, with a progress bar.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobState} from '@latentfarm/proto';
import { FinishReason, type ImageCounts } from '@latentfarm/proto';
import type { FarmClient } from '../sdk.js';
import { printErr, ProgressBar } from './output.js';

const EXT: Record<string, string> = { 'image/png': 'png', 'image/webp': 'webp', 'image/jpeg': 'jpg' };

export interface WatchSummary {
  state: JobState;
  counts: ImageCounts | undefined;
  written: number;
  lastSequence: number;
}

export async function watchToFolder(client: FarmClient, jobId: string, out: string | undefined, opts: { afterSequence?: number; quiet?: boolean } = {}): Promise<WatchSummary> {
  if (out !== undefined) await mkdir(out, { recursive: true });
  const job = await client.getJob(jobId);
  const bar = new ProgressBar(jobId, job.images?.total ?? 0);
  // From the start every image arrives as an event; when resuming, those before the sequence were counted already.
  const resuming = (opts.afterSequence ?? 0) > 0;
  let done = resuming ? (job.images?.succeeded ?? 0) + (job.images?.failed ?? 0) : 0;
  let failed = resuming ? job.images?.failed ?? 0 : 0;
  let state = job.state;
  let counts = job.images;
  let written = 0;
  let lastSequence = opts.afterSequence ?? 0;
  const steps = new Map<string, string>();
  for await (const ev of client.watch(jobId, { afterSequence: opts.afterSequence ?? 0, referencesOnly: out === undefined })) {
    if (ev.type === 'state') {
      state = ev.state;
      counts = ev.counts;
      lastSequence = ev.sequence;
    } else if (ev.type === 'progress') {
      for (const s of ev.images) steps.set(s.imageId, `${s.step}/${s.totalSteps}`);
    } else {
      lastSequence = ev.sequence;
      done++;
      steps.delete(ev.info.id);
      if (ev.info.finishReason !== FinishReason.SUCCESS) {
        failed++;
        if (!opts.quiet) printErr(`\nimage ${ev.info.id} failed: ${ev.info.error}`);
      } else if (out !== undefined) {
        await writeFile(join(out, `${String(ev.info.index).padStart(5, '0')}.${EXT[ev.info.mimeType] ?? 'bin'}`), ev.data);
        written++;
      }
    }
    if (!opts.quiet) {
      const running = [...steps.values()].slice(0, 1);
      bar.update(done, failed, running.length > 0 ? `step ${running[0] ?? ''}` : '');
    }
  }
  if (!opts.quiet) bar.finish();
  return { state, counts, written, lastSequence };
}
