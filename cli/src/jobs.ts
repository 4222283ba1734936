// Commands about jobs and the farm once submitted: watch, get, list, cancel, image, status.
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, opt } from '@latentfarm/common';
import {
  CancelJobResponse, GetFarmStatusResponse, GetImageResponse, GetJobResponse, JobState, ListJobsResponse, type Job,
} from '@latentfarm/proto';
import type { FarmClient } from '@latentfarm/client';
import { clientOptions, withClient, type Command } from './command.js';
import { fileProblem } from './file-errors.js';
import { parseLabels, parseSince } from './list-filters.js';
import { print, printErr, printJson } from './output.js';
import { modelLine } from './model-defaults.js';
import { doneLine } from './submit.js';
import { watchToFolder } from './watch-to-folder.js';

/** An argument as a shell reads it back: quoted when it holds anything but plain characters. */
const quoteArg = (s: string): string => (/^[\w.,=:/@+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

export function jobLine(j: Job): string {
  const c = j.images;
  return `${j.id}  ${JobState[j.state].padEnd(9)}  ${c?.succeeded ?? 0}/${c?.total ?? 0} done, ${c?.failed ?? 0} failed, ${c?.running ?? 0} running  ${j.spec?.model ?? ''}  credits ${j.spentCredits.toFixed(2)}/${j.estimatedCredits.toFixed(2)}`;
}

function needId(pos: string[]): string {
  if (pos[0] === undefined) throw new InvalidArgumentError('job-id', 'missing: give a job id');
  return pos[0];
}

/** A command with only the connection flags. */
function simple(usage: string, fn: (c: FarmClient, v: Record<string, unknown>, pos: string[]) => Promise<void>, check: (pos: string[]) => void = () => undefined): Command {
  return {
    usage, options: clientOptions,
    async run(v, pos) {
      check(pos);
      await withClient(v, (c) => fn(c, v, pos));
      return 0;
    },
  };
}

const listOptions = {
  ...clientOptions,
  since: opt.string('Only jobs created since: a duration ago (90m, 2h, 7d) or a time (2026-11-30T10:00Z)', ''),
  label: opt.list('Only jobs with these labels: key=value, several separated by commas (all must match)', []),
  pageSize: opt.int('Most jobs to show, newest first (the coordinator gives at most 1000 a page)', 100, { min: 1, max: 1000 }),
  pageToken: opt.string('Go on from where a previous page ended (the token it printed); give the same filters again', ''),
};

export const jobCommands: Record<string, Command> = {
  watch: {
    usage: 'Usage: latentfarm watch [options] <job-id>\n\nFollows a job to its end; with --out, writes its images. Resumes after a dropped connection.\n' +
      'Exits 0 when the job succeeded, 1 when it ended otherwise. With --json: each state change and finished image as a WatchJob message, then the final job.',
    options: {
      ...clientOptions,
      out: opt.string('Folder for images (empty: only progress)', ''),
      after: opt.int('Resume after this event sequence (the "last sequence" a previous watch printed)', 0, { min: 0 }),
    },
    async run(v, pos) {
      const id = needId(pos);
      const json = v['json'] === true;
      const out = (v['out'] as string) || undefined;
      return withClient(v, async (c) => {
        const s = await watchToFolder(c, id, out, { afterSequence: v['after'] as number, json });
        if (json) printJson(GetJobResponse.toJSON({ job: s.job }));
        else print(`${id} ${JobState[s.job.state]}: ${out !== undefined ? `${s.written} images written to ${out} (${doneLine(s.job)}; ` : `${doneLine(s.job)} (`}last sequence ${s.lastSequence})`);
        return s.job.state === JobState.SUCCEEDED ? 0 : 1;
      });
    },
  },

  get: simple('Usage: latentfarm get [options] <job-id>\n\nShows a job.', async (c, v, pos) => {
    const j = await c.getJob(needId(pos));
    print(v['json'] === true ? JSON.stringify(GetJobResponse.toJSON({ job: j })) : jobLine(j));
  }, needId),

  list: {
    usage: 'Usage: latentfarm list [options]\n\nLists jobs, newest first, a page at a time: when there are more, it says how to see the next page.',
    options: listOptions,
    async run(v) {
      // Checked before connecting: bad input is one line and exit 2.
      const since = v['since'] as string;
      const createdAfterUnixMs = parseSince(since);
      const labels = parseLabels(v['label'] as string[]);
      await withClient(v, async (c) => {
        const res = await c.listJobs({ pageSize: v['pageSize'] as number, pageToken: v['pageToken'] as string, createdAfterUnixMs, labels });
        if (v['json'] === true) return printJson(ListJobsResponse.toJSON(res));
        for (const j of res.jobs) print(jobLine(j));
        if (res.nextPageToken !== '') {
          // The next page's command, with the filters of this one (a --since given as a duration, as the time it meant).
          const flags = [
            v['pageSize'] === listOptions.pageSize.default ? '' : ` --page-size ${String(v['pageSize'])}`,
            since === '' ? '' : ` --since ${new Date(createdAfterUnixMs).toISOString()}`,
            Object.keys(labels).length === 0 ? '' : ` --label ${quoteArg((v['label'] as string[]).join(','))}`,
          ].join('');
          printErr(`more jobs: latentfarm list --page-token ${res.nextPageToken}${flags}`);
        }
      });
      return 0;
    },
  },

  cancel: simple('Usage: latentfarm cancel [options] <job-id>\n\nCancels a job: images not rendered yet are dropped.', async (c, v, pos) => {
    const res = await c.cancelJob(needId(pos));
    print(v['json'] === true ? JSON.stringify(CancelJobResponse.toJSON(res)) : jobLine(res.job as Job));
  }, needId),

  status: simple('Usage: latentfarm status [options]\n\nWorkers, models, queue depth and throughput. Images/s counts the images committed in\n' +
    'the last 60 s (or since the coordinator started, if later), as `watch` measures a job.', async (c, v) => {
    const s = await c.getFarmStatus();
    if (v['json'] === true) return printJson(GetFarmStatusResponse.toJSON(s));
    print(`queue ${s.queuedImages} waiting, ${s.leasedImages} leased, ${s.activeJobs} active jobs, ${s.imagesPerSecond.toFixed(1)} images/s (last 60 s), ${s.imagesCompleted} done`);
    for (const m of s.models) print(modelLine(m, s.defaultModel));
    for (const w of s.workers) print(`worker ${w.id}  ${w.engine}/${w.provider}  batch ${w.maxBatch}  leased ${w.leased}  done ${w.imagesCompleted}${w.draining ? '  draining' : ''}`);
  }),

  image: {
    usage: 'Usage: latentfarm image [options] <job-id>/<index> <file>\n\nFetches any finished image by id.',
    options: clientOptions,
    async run(v, pos) {
      const [id, file] = pos;
      if (id === undefined || file === undefined) throw new InvalidArgumentError('arguments', 'give an image id and an output file');
      await withClient(v, async (c) => {
        const img = await c.getImage(id);
        await writeFile(file, img.data).catch((err: unknown) => { throw fileProblem(err) ?? err; });
        if (v['json'] === true) printJson(GetImageResponse.toJSON({ info: img.info, data: Buffer.alloc(0) }));
        else print(`${img.info.id} (${img.info.mimeType}, ${img.data.length} bytes, seed ${img.info.params?.seed ?? ''}) written to ${file}`);
      });
      return 0;
    },
  },
};
