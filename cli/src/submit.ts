// `submit` and `estimate`: a prompt file (or one --prompt) and the job flags.
import { opt } from '@latentfarm/common';
import { EstimateCostResponse, GetJobResponse, JobState, SubmitJobResponse, type Job } from '@latentfarm/proto';
import { clientOptions, newIdempotencyKey, withClient, type Command } from './command.js';
import { collectEntries, jobOptions, specFromFlags, type JobFlags } from './job-options.js';
import { asksForSize, sizeWarning } from './model-defaults.js';
import { print, printErr, printJson } from './output.js';
import { makeOutFolder, watchToFolder } from './watch-to-folder.js';

/** Prompts above this go by client stream rather than one message. */
const STREAM_ABOVE = 1000;

const submitOptions = {
  ...clientOptions, ...jobOptions,
  watch: opt.bool('Stay and write images into --out as they finish', false),
  out: opt.string('Folder for images (with --watch); default out/<job id>', ''),
  stream: opt.bool('Submit by client stream even for few prompts', false),
};

export function doneLine(j: Job): string {
  const c = j.images;
  return `${c?.succeeded ?? 0}/${c?.total ?? 0} done, ${c?.failed ?? 0} failed${(c?.cancelled ?? 0) > 0 ? `, ${c?.cancelled ?? 0} cancelled` : ''}`;
}

export const submitCommands: Record<string, Command> = {
  submit: {
    usage: 'Usage: latentfarm submit [options] <prompts.txt|prompts.jsonl>\n\nSubmits a bulk job: one prompt per line, or JSONL with per-entry overrides.\n' +
      'Without --idempotency-key the submit gets a key of its own, so it is retried safely while the coordinator is unreachable (until --deadline-ms).',
    options: submitOptions,
    async run(v, pos) {
      const flags = v as unknown as JobFlags;
      const spec = specFromFlags(flags);
      if (spec.idempotencyKey === '') spec.idempotencyKey = newIdempotencyKey();
      // Everything the user named is checked before anything is sent.
      const entries = await collectEntries(pos[0], flags);
      const json = v['json'] === true;
      const wanted = v['out'] as string;
      if (v['watch'] === true && wanted !== '') await makeOutFolder(wanted);
      return withClient(v, async (c) => {
        if (asksForSize(spec, entries)) {
          // Advice only: a farm that cannot answer still gets the job (and answers it with the real error).
          const warning = sizeWarning(spec, entries, await c.getFarmStatus().catch(() => undefined));
          if (warning !== undefined) printErr(`latentfarm submit: ${warning}`);
        }
        const res = v['stream'] === true || entries.length > STREAM_ABOVE
          ? await c.submitJobStream(spec, entries)
          : await c.submitJob(spec, entries);
        const job = res.job as Job;
        if (json) printJson(SubmitJobResponse.toJSON(res));
        else print(`${res.created ? 'submitted' : 'already submitted (idempotency key)'} ${job.id}: ${job.images?.total ?? 0} images, ${job.estimatedCredits.toFixed(2)} credits`);
        if (v['watch'] !== true) return 0;
        const out = wanted || `out/${job.id}`;
        const s = await watchToFolder(c, job.id, out, { json });
        if (json) printJson(GetJobResponse.toJSON({ job: s.job }));
        else print(`${job.id} ${JobState[s.job.state]}: ${s.written} images written to ${out} (${doneLine(s.job)})`);
        return s.job.state === JobState.SUCCEEDED ? 0 : 1;
      }, () => spec.idempotencyKey);
    },
  },

  estimate: {
    usage: 'Usage: latentfarm estimate [options] <prompts.txt|prompts.jsonl>\n\nDry run of the cost model.',
    options: { ...clientOptions, ...jobOptions },
    async run(v, pos) {
      const flags = v as unknown as JobFlags;
      const spec = specFromFlags(flags);
      const entries = await collectEntries(pos[0], flags);
      return withClient(v, async (c) => {
        const e = await c.estimateCost({ spec, entries });
        if (v['json'] === true) printJson(EstimateCostResponse.toJSON(e));
        else print(`${e.images} images, ${e.credits.toFixed(2)} credits (${e.creditsPerImageMin.toFixed(3)}–${e.creditsPerImageMax.toFixed(3)} per image); ${e.formula}`);
        return 0;
      });
    },
  },
};
