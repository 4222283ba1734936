// The `latentfarm` command line: one entry for every part.
import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { ConfigError, InvalidArgumentError } from '@latentfarm/common';
import { runServe } from '@latentfarm/coordinator';
import { runWorker } from '@latentfarm/worker';
import { commands, runCommand } from './commands.js';
import { print, printErr } from './output.js';
import { runUp } from './up.js';

const USAGE = `Usage: latentfarm <command> [options]   (latentfarm <command> --help for its options)

Farm:
  up        coordinator and local workers in one process; with --prompts, render and exit
  serve     run a coordinator
  worker    run a worker that dials a coordinator
Jobs:
  submit    submit prompts (text or JSONL); --watch writes images as they finish
  watch     follow a job, resumably; --out writes its images
  get       show a job
  list      list jobs
  cancel    cancel a job
  image     fetch a finished image by id
  estimate  dry run of the cost model
  status    workers, models, queue depth, throughput`;

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      print(USAGE);
      return name === undefined ? 2 : 0;
    }
    if (name === 'serve') {
      const c = await runServe(rest);
      if (c !== undefined) await new Promise(() => undefined); // serve until a signal ends the process
      return 0;
    }
    if (name === 'worker') {
      await runWorker(rest);
      return 0;
    }
    if (name === 'up') return await runUp(rest);
    const cmd = commands[name];
    if (cmd === undefined) {
      printErr(`latentfarm: unknown command "${name}"\n\n${USAGE}`);
      return 2;
    }
    return await runCommand(cmd, rest);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof InvalidArgumentError) {
      printErr(`latentfarm ${name}: ${err.message}`);
      return 2;
    }
    const se = err as Partial<ServiceError>;
    if (typeof se.code === 'number') {
      printErr(`latentfarm ${name}: ${status[se.code] ?? se.code}: ${se.details ?? se.message ?? ''}`);
      return 1;
    }
    printErr(`latentfarm ${name}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    return 1;
  }
}
