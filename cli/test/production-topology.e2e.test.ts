// The production topology as local processes: a 3-node NATS JetStream
// cluster (Debian's nats-server), two coordinators on it with replicas 3, sim
// workers on both, and `latentfarm submit --watch` as the user runs it. One
// NATS node (the leader of the task stream) and one coordinator are SIGKILLed
// mid-job; the client still gets every image exactly once and exits 0.
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, spawnCli, spawnSimWorker, startNatsCluster, tempDir, type NatsCluster, type Proc, type SimWorker } from '@latentfarm/testkit';
import {
  CoordinatorProcess, coordinatorArgs, coordinatorLogLevel, natsPrefix, stopsAfterEachTest, tail, workersConnected, TEST_BUDGET_MS, WORKER,
} from './durability.js';

const IMAGES = 800;
/**
 * Slow enough that both faults land mid-job (the test checks that they do): on a quiet machine a leader election
 * and the first count after it took over 20 s, long enough for a 30-step job to finish in between (seen in CI).
 */
const STEPS = 90;
/** What production runs (deploy/kubernetes/components/production): every stream and bucket on all three nodes. */
const REPLICAS = 3;

interface ProductionFarm {
  nats: NatsCluster;
  prefix: string;
  coordinators: [CoordinatorProcess, CoordinatorProcess];
  /** Two sim workers on each coordinator, in that order. */
  workers: [SimWorker[], SimWorker[]];
  dir: string;
  client?: Proc;
  diagnostics(): Promise<string>;
  stop(): Promise<void>;
}

async function startProductionFarm(): Promise<ProductionFarm> {
  const nats = await startNatsCluster({ size: 3 });
  const dir = await tempDir();
  const prefix = natsPrefix();
  const args = coordinatorArgs(nats.urls, prefix, dir.path, ['--nats-replicas', String(REPLICAS)]);
  let coordinators: CoordinatorProcess[] = [];
  let workers: SimWorker[][] = [];
  const farm: ProductionFarm = {
    nats, prefix, dir: dir.path,
    get coordinators() { return coordinators as [CoordinatorProcess, CoordinatorProcess]; },
    get workers() { return workers as [SimWorker[], SimWorker[]]; },
    async diagnostics() {
      return [
        ...(farm.client === undefined ? [] : [tail('latentfarm submit --watch', farm.client.output())]),
        ...coordinators.map((c, i) => tail(`coordinator ${i} on ${c.address}`, c.output())),
        ...workers.flat().map((w) => tail(`worker ${w.id}`, w.output(), 8)),
        await nats.diagnostics(),
      ].join('');
    },
    async stop() {
      farm.client?.kill('SIGKILL');
      await farm.client?.exited();
      for (const w of workers.flat()) w.kill('SIGKILL');
      await Promise.all(workers.flat().map((w) => w.exited()));
      for (const c of coordinators) c.client.close();
      await Promise.all(coordinators.map((c) => c.kill('SIGKILL')));
      await nats.stop();
      await dir.remove();
    },
  };
  try {
    const logLevel = coordinatorLogLevel();
    coordinators = await Promise.all([0, 1].map(() => CoordinatorProcess.start(args, logLevel)));
    workers = coordinators.map((c, i) => [0, 1].map((k) => spawnSimWorker(c.address, { ...WORKER, id: `w-${'ab'[i]}${k}` })));
    await Promise.all(coordinators.map((c, i) => workersConnected(c, workers[i]!)));
  } catch (err) {
    process.stderr.write(await farm.diagnostics());
    await farm.stop();
    throw err;
  }
  return farm;
}

/** One image event of `submit --watch --json` (a WatchJobResponse in proto3 JSON: a zero index is left out). */
interface ImageLine { image?: { info?: { index?: number; finishReason?: string } } }

/** The job id from the first line `submit --json` prints (its SubmitJobResponse). */
function submittedJobId(output: string): string | undefined {
  const first = output.split('\n').find((l) => l.startsWith('{'));
  return first === undefined ? undefined : (JSON.parse(first) as { job?: { id?: string } }).job?.id;
}

/** The index of every image event the CLI printed, in order. */
const imageIndices = (output: string): number[] => output.split('\n')
  .filter((l) => l.startsWith('{'))
  .map((l) => JSON.parse(l) as ImageLine)
  .flatMap((m) => (m.image?.info === undefined ? [] : [m.image.info.index ?? 0]));

describe('the production topology: 3-node NATS cluster, 2 coordinators, 4 sim workers', () => {
  const stopped = stopsAfterEachTest();

  it(`delivers all ${IMAGES} images exactly once to a watching client while a NATS node and a coordinator are SIGKILLed`, async () => {
    const f = stopped(await startProductionFarm());
    const [a, b] = f.coordinators;
    const promptsFile = join(f.dir, 'prompts.txt');
    await writeFile(promptsFile, Array.from({ length: IMAGES }, (_, i) => `a lighthouse at dusk, take ${i}`).join('\n') + '\n');
    const out = join(f.dir, 'out');
    // The client the user runs, on the coordinator that stays up; the job is leased by workers on both.
    const client = spawnCli(['submit', promptsFile, '--coordinator', a.address, '--steps', String(STEPS), '--seed', '1', '--watch', '--json', '--out', out,
      '--label', `run=${f.prefix}`]);
    f.client = client;
    const jobId = await eventually(() => {
      if (client.child.exitCode !== null) throw new Error(`the client exited early (${client.child.exitCode}):\n${client.output()}`);
      return submittedJobId(client.output());
    }, 60_000, 'the client to submit');
    // Faults are timed by what the farm has committed (the watcher may lag behind it); a read that meets the
    // failover gets UNAVAILABLE and is asked again.
    const committed = async () => (await a.client.getJob(jobId)).images?.succeeded ?? 0;
    const rendered = (n: number) => eventually(() => committed().then((c) => c >= n, () => false), 120_000, `${n} images rendered`);

    // The NATS node that leads the task stream: its loss forces a leader election where leases are handed out.
    await rendered(150);
    const tasks = `${f.prefix}_TASKS`;
    const victim = await f.nats.streamLeader(tasks);
    expect(victim, `a leader of ${tasks}`).toBeDefined();
    await victim!.kill('SIGKILL');
    // A new leader among the two left, and work goes on.
    await eventually(async () => f.nats.streamLeader(tasks), 60_000, `a new leader of ${tasks}`);
    const atNatsKill = await eventually(() => committed().then((c) => ({ c }), (): false => false), 60_000, 'a count');
    // Never more than the job has: were the job done already, the check below says so instead of a timeout.
    await rendered(Math.min(atNatsKill.c + 100, IMAGES));

    // The coordinator the client is not on: its workers' leases lapse and go to the other coordinator's workers.
    await b.kill('SIGKILL');
    expect(await committed(), 'the faults to land mid-job').toBeLessThan(IMAGES);
    // Brought back as Kubernetes would, while the NATS node is still down: it starts on 2 of 3 nodes and its workers return.
    await b.restart();
    await workersConnected(b, f.workers[1]);

    expect(await client.exited(), client.output()).toBe(0);
    const indices = imageIndices(client.output());
    const counts = new Map<number, number>();
    for (const i of indices) counts.set(i, (counts.get(i) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1), 'images delivered more than once').toEqual([]);
    expect([...counts.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: IMAGES }, (_, i) => i));
    expect((await readdir(out)).length).toBe(IMAGES);
    const jobs = await a.client.listJobs({ labels: { run: f.prefix } });
    expect(jobs.jobs.map((j) => j.id)).toEqual([jobId]);
    for (const c of [a, b]) expect((await c.client.getJob(jobId)).images).toMatchObject({ total: IMAGES, succeeded: IMAGES, failed: 0 });
  }, TEST_BUDGET_MS);
});
