// Client-side commands: submit, watch, get, list, cancel, status, estimate, image.
import { writeFile } from 'node:fs/promises';
import { formatHelp, opt, parseOptions, InvalidArgumentError, type OptionSpecs } from '@latentfarm/common';
import { JobState, type Job, type PromptEntry } from '@latentfarm/proto';
import { FarmClient } from '../sdk.js';
import { jobOptions, specFromFlags, withEntryDefaults, type JobFlags } from './job-options.js';
import { asksForSize, modelLine, sizeWarning } from './model-defaults.js';
import { print, printErr } from './output.js';
import { parsePromptFile } from './prompts.js';
import { watchToFolder } from './watch-to-folder.js';

const clientOptions = {
  coordinator: opt.string('Coordinator address (host:port)', '127.0.0.1:7400'),
  deadlineMs: opt.int('Deadline of each call', 30_000, { min: 1 }),
  json: opt.bool('Print JSON instead of text', false),
};

/** Prompts above this go by client stream rather than one message. */
const STREAM_ABOVE = 1000;

export interface Command {
  usage: string;
  options: OptionSpecs;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

const client = (v: Record<string, unknown>): FarmClient => new FarmClient(v['coordinator'] as string, { deadlineMs: v['deadlineMs'] as number });

export async function collectEntries(file: string | undefined, flags: JobFlags): Promise<PromptEntry[]> {
  const out: PromptEntry[] = [];
  for await (const e of entrySource(file, flags)) out.push(e);
  return out;
}

export async function* entrySource(file: string | undefined, flags: JobFlags): AsyncGenerator<PromptEntry> {
  if (flags.prompt !== '') {
    if (file !== undefined) throw new InvalidArgumentError('--prompt', 'give either --prompt or a prompt file, not both');
    yield withEntryDefaults({ prompt: flags.prompt, negativePrompt: '', images: 0 }, flags);
    return;
  }
  if (file === undefined) throw new InvalidArgumentError('prompts', 'give a prompt file (text or .jsonl) or --prompt "..."');
  for await (const e of parsePromptFile(file)) yield withEntryDefaults(e, flags);
}

export function jobLine(j: Job): string {
  const c = j.images;
  return `${j.id}  ${JobState[j.state].padEnd(9)}  ${c?.succeeded ?? 0}/${c?.total ?? 0} done, ${c?.failed ?? 0} failed, ${c?.running ?? 0} running  ${j.spec?.model ?? ''}  credits ${j.spentCredits.toFixed(2)}/${j.estimatedCredits.toFixed(2)}`;
}

const submitOptions = {
  ...clientOptions, ...jobOptions,
  watch: opt.bool('Stay and write images into --out as they finish', false),
  out: opt.string('Folder for images (with --watch); default out/<job id>', ''),
  stream: opt.bool('Submit by client stream even for few prompts', false),
};

export const commands: Record<string, Command> = {
  submit: {
    usage: 'Usage: latentfarm submit [options] <prompts.txt|prompts.jsonl>\n\nSubmits a bulk job: one prompt per line, or JSONL with per-entry overrides.',
    options: submitOptions,
    async run(v, pos) {
      const flags = v as unknown as JobFlags;
      const spec = specFromFlags(flags);
      const c = client(v);
      try {
        const entries = await collectEntries(pos[0], flags);
        if (asksForSize(spec, entries)) {
          // Advice only: a farm that cannot answer still gets the job (and answers it with the real error).
          const warning = sizeWarning(spec, entries, await c.getFarmStatus().catch(() => undefined));
          if (warning !== undefined) printErr(`latentfarm submit: ${warning}`);
        }
        const res = v['stream'] === true || entries.length > STREAM_ABOVE
          ? await c.submitJobStream(spec, entries)
          : await c.submitJob(spec, entries);
        const job = res.job as Job;
        if (v['json'] === true) print(JSON.stringify(res));
        else print(`${res.created ? 'submitted' : 'already submitted (idempotency key)'} ${job.id}: ${job.images?.total ?? 0} images, ${job.estimatedCredits.toFixed(2)} credits`);
        if (v['watch'] !== true) return 0;
        const out = (v['out'] as string) || `out/${job.id}`;
        const s = await watchToFolder(c, job.id, out);
        print(`${job.id} ${JobState[s.state]}: ${s.written} images written to ${out}`);
        return s.state === JobState.SUCCEEDED ? 0 : 1;
      } finally {
        c.close();
      }
    },
  },

  watch: {
    usage: 'Usage: latentfarm watch [options] <job-id>\n\nFollows a job; with --out, writes its images. Resumes after a dropped connection.',
    options: { ...clientOptions, out: opt.string('Folder for images (empty: only progress)', ''), after: opt.int('Resume after this event sequence', 0, { min: 0 }) },
    async run(v, pos) {
      const id = needId(pos);
      const c = client(v);
      try {
        const out = (v['out'] as string) || undefined;
        const s = await watchToFolder(c, id, out, { afterSequence: v['after'] as number });
        print(`${id} ${JobState[s.state]}${out !== undefined ? `: ${s.written} images written to ${out}` : ''} (last sequence ${s.lastSequence})`);
        return 0;
      } finally {
        c.close();
      }
    },
  },

  get: simple('Usage: latentfarm get [options] <job-id>', async (c, v, pos) => {
    const j = await c.getJob(needId(pos));
    print(v['json'] === true ? JSON.stringify(j) : jobLine(j));
  }),

  list: simple('Usage: latentfarm list [options]', async (c, v) => {
    const res = await c.listJobs({ pageSize: 100 });
    for (const j of res.jobs) print(v['json'] === true ? JSON.stringify(j) : jobLine(j));
  }),

  cancel: simple('Usage: latentfarm cancel [options] <job-id>', async (c, v, pos) => {
    const res = await c.cancelJob(needId(pos));
    print(v['json'] === true ? JSON.stringify(res.job) : jobLine(res.job as Job));
  }),

  status: simple('Usage: latentfarm status [options]\n\nWorkers, models, queue depth and throughput.', async (c, v) => {
    const s = await c.getFarmStatus();
    if (v['json'] === true) return print(JSON.stringify(s));
    print(`queue ${s.queuedImages} waiting, ${s.leasedImages} leased, ${s.activeJobs} active jobs, ${s.imagesPerSecond.toFixed(1)} images/s, ${s.imagesCompleted} done`);
    for (const m of s.models) print(modelLine(m, s.defaultModel));
    for (const w of s.workers) print(`worker ${w.id}  ${w.engine}/${w.provider}  batch ${w.maxBatch}  leased ${w.leased}  done ${w.imagesCompleted}${w.draining ? '  draining' : ''}`);
  }),

  estimate: {
    usage: 'Usage: latentfarm estimate [options] <prompts.txt|prompts.jsonl>\n\nDry run of the cost model.',
    options: { ...clientOptions, ...jobOptions },
    async run(v, pos) {
      const flags = v as unknown as JobFlags;
      const c = client(v);
      try {
        const e = await c.estimateCost({ spec: specFromFlags(flags), entries: await collectEntries(pos[0], flags) });
        print(v['json'] === true ? JSON.stringify(e) : `${e.images} images, ${e.credits.toFixed(2)} credits (${e.creditsPerImageMin.toFixed(3)}–${e.creditsPerImageMax.toFixed(3)} per image); ${e.formula}`);
        return 0;
      } finally {
        c.close();
      }
    },
  },

  image: {
    usage: 'Usage: latentfarm image [options] <job-id>/<index> <file>\n\nFetches any finished image by id.',
    options: clientOptions,
    async run(v, pos) {
      const [id, file] = pos;
      if (id === undefined || file === undefined) throw new InvalidArgumentError('arguments', 'give an image id and an output file');
      const c = client(v);
      try {
        const img = await c.getImage(id);
        await writeFile(file, img.data);
        print(`${img.info.id} (${img.info.mimeType}, ${img.data.length} bytes, seed ${img.info.params?.seed ?? ''}) written to ${file}`);
        return 0;
      } finally {
        c.close();
      }
    },
  },
};

function needId(pos: string[]): string {
  if (pos[0] === undefined) throw new InvalidArgumentError('job-id', 'missing: give a job id');
  return pos[0];
}

function simple(usage: string, fn: (c: FarmClient, v: Record<string, unknown>, pos: string[]) => Promise<void>): Command {
  return {
    usage, options: clientOptions,
    async run(v, pos) {
      const c = client(v);
      try {
        await fn(c, v, pos);
        return 0;
      } finally {
        c.close();
      }
    },
  };
}

export function runCommand(cmd: Command, argv: readonly string[]): Promise<number> {
  const { values, positionals, help } = parseOptions(cmd.options, argv);
  if (help) {
    process.stdout.write(formatHelp(cmd.usage, cmd.options));
    return Promise.resolve(0);
  }
  return cmd.run(values as Record<string, unknown>, positionals);
}
