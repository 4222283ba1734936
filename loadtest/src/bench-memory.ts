// The memory benchmark (issue 12, "bounded memory"): a real coordinator
// process per store (embedded; JetStream with its own nats-server), no
// workers, and two submissions by stream through the SDK: a job of
// --prompts prompts that must be accepted, then one of --oversize prompts
// that must be refused once it passes the coordinator's per-job limit
// (--max-images-per-job at its default). The coordinator's resident memory is
// read from /proc: VmHWM (its peak so far) after each submission.
// Usage: npm run bench:memory -- [--store embedded|jetstream|both] [--prompts N] [--oversize N] [--max-images-per-job N]
import { opt, parseScriptOptions } from '@latentfarm/common';
import { FarmClient } from '@latentfarm/client';
import { ImageFormat, Scheduler, type JobSpec, type PromptEntry } from '@latentfarm/proto';
import { spawnCoordinator, startNatsServer, tempDir, type NatsServer } from '@latentfarm/testkit';
import { memoryBytes } from './proc-stats.js';

const options = {
  store: opt.oneOf('Store(s) to measure', 'both', ['embedded', 'jetstream', 'both'] as const),
  prompts: opt.int('Prompts of the job that must be accepted', 1_000_000, { min: 1 }),
  oversize: opt.int('Prompts of the stream that must be refused', 12_000_000, { min: 1 }),
  chunk: opt.int('Prompts per stream message', 1000, { min: 1 }),
  maxImagesPerJob: opt.int('The coordinator\'s --max-images-per-job (0: its default)', 0, { min: 0 }),
};

interface Result {
  store: string;
  acceptedSeconds: number;
  peakAfterAcceptMb: number;
  refusedAfterEntries: number;
  refusedSeconds: number;
  /** From the client's sending the entry the refusal names to the refusal. */
  refusedAfterLimitSeconds: number;
  refusal: string;
  peakAfterRefusalMb: number;
  rssAtEndMb: number;
}

const MB = 2 ** 20;

function spec(): JobSpec {
  return {
    model: 'sim', priority: 5, labels: { bench: 'memory' }, idempotencyKey: '',
    params: { width: 64, height: 64, steps: 4, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG, seed: 1 },
  };
}

/** What the stream took: how many prompts, and when it took each thousandth (ms since the start of the run). */
interface Sent { count: number; atThousand: number[] }

/** Prompts of a realistic length (about 80 characters), counted as the stream takes them. */
function* prompts(n: number, sent: Sent): Generator<PromptEntry> {
  for (let i = 0; i < n; i++) {
    sent.count = i + 1;
    if (i % 1000 === 0) sent.atThousand.push(performance.now());
    yield { prompt: `a watercolor painting of lighthouse number ${i} on a cliff at dusk, soft light, detailed`, negativePrompt: '', images: 1 };
  }
}

async function measure(store: 'embedded' | 'jetstream', o: { prompts: number; oversize: number; chunk: number; maxImagesPerJob: number }): Promise<Result> {
  const dir = await tempDir();
  const nats: NatsServer | undefined = store === 'jetstream' ? await startNatsServer() : undefined;
  const coordinator = await spawnCoordinator(['--data-dir', dir.path, '--models', 'sim', ...(nats !== undefined ? ['--nats-url', nats.url] : []),
    ...(o.maxImagesPerJob > 0 ? ['--max-images-per-job', String(o.maxImagesPerJob)] : [])]);
  const pid = coordinator.child.pid as number;
  const client = new FarmClient(coordinator.address, { deadlineMs: 3_600_000 });
  const log = (line: string): void => { process.stderr.write(`[${store}] ${line}\n`); };
  try {
    let t = performance.now();
    const accepted = await client.submitJobStream(spec(), prompts(o.prompts, { count: 0, atThousand: [] }), o.chunk);
    const acceptedSeconds = (performance.now() - t) / 1000;
    const afterAccept = await memoryBytes(pid);
    log(`accepted ${accepted.job?.id ?? '?'} (${accepted.job?.promptCount ?? 0} prompts) in ${acceptedSeconds.toFixed(1)} s; peak RSS ${(afterAccept.peak / MB).toFixed(0)} MB`);

    const sent: Sent = { count: 0, atThousand: [] };
    t = performance.now();
    const refusal = await client.submitJobStream(spec(), prompts(o.oversize, sent), o.chunk).then(
      (r) => `ACCEPTED (${r.job?.id ?? '?'}): the limit did not hold`,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    const refusedAfterEntries = sent.count;
    const now = performance.now();
    const refusedSeconds = (now - t) / 1000;
    const named = Number(/entries\[(\d+)\]/.exec(refusal)?.[1] ?? NaN);
    const refusedAfterLimitSeconds = (now - (sent.atThousand[Math.floor(named / 1000)] ?? NaN)) / 1000;
    const afterRefusal = await memoryBytes(pid);
    log(`refused after ${refusedAfterEntries} entries sent, in ${refusedSeconds.toFixed(1)} s (${refusedAfterLimitSeconds.toFixed(1)} s after the entry it names was sent): ${refusal}; peak RSS ${(afterRefusal.peak / MB).toFixed(0)} MB`);
    return {
      store, acceptedSeconds, peakAfterAcceptMb: afterAccept.peak / MB, refusedAfterEntries, refusedSeconds, refusedAfterLimitSeconds, refusal,
      peakAfterRefusalMb: afterRefusal.peak / MB, rssAtEndMb: afterRefusal.rss / MB,
    };
  } finally {
    client.close();
    coordinator.kill('SIGKILL');
    await coordinator.exited();
    await nats?.stop();
    await dir.remove();
  }
}

const { values } = parseScriptOptions(options, process.argv.slice(2), 'Usage: npm run bench:memory -- [options]');
const stores = values.store === 'both' ? (['embedded', 'jetstream'] as const) : [values.store];
const results: Result[] = [];
for (const s of stores) results.push(await measure(s, values));
const row = (k: string, f: (r: Result) => string): string => `${k.padEnd(36)}${results.map((r) => f(r).padStart(14)).join('')}`;
process.stdout.write(`\n${row('', (r) => r.store)}\n${[
  row(`${values.prompts} prompts accepted in s`, (r) => r.acceptedSeconds.toFixed(1)),
  row('peak RSS after accept, MB', (r) => r.peakAfterAcceptMb.toFixed(0)),
  row(`${values.oversize} stream refused after entries`, (r) => String(r.refusedAfterEntries)),
  row('refused s after the entry it names', (r) => r.refusedAfterLimitSeconds.toFixed(1)),
  row('peak RSS after refusal, MB', (r) => r.peakAfterRefusalMb.toFixed(0)),
  row('RSS at end, MB', (r) => r.rssAtEndMb.toFixed(0)),
].join('\n')}\n${results.map((r) => `${r.store}: ${r.refusal}`).join('\n')}\n`);
