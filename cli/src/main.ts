// The `latentfarm` command line: one entry for every part.
import type { ServiceError } from '@grpc/grpc-js';
import { logVerbosity, setLogVerbosity, status } from '@grpc/grpc-js';
import { retryDelayMs } from '@latentfarm/client';
import { ConfigError, InvalidArgumentError, LatentfarmError } from '@latentfarm/common';
import { adminCommands } from './admin.js';
import { commands, runCommand } from './commands.js';
import { fileProblem } from './file-errors.js';
import { print, printErr } from './output.js';
import { quietIpServerNameWarning } from './warnings.js';

const USAGE = `Usage: latentfarm <command> [options]   (latentfarm <command> --help for its options)

Farm:
  up        coordinator and local workers in one process; with --prompts or --prompt, render and exit
  serve     run a coordinator
  worker    run a worker that dials a coordinator
Jobs:
  submit    submit prompts (text or JSONL); --watch writes images as they finish
  watch     follow a job, resumably; --out writes its images
  get       show a job
  list      list jobs, a page at a time
  cancel    cancel a job
  image     fetch a finished image by id
  estimate  dry run of the cost model
  status    workers, models, queue depth, throughput
Admin (an admin key):
  tenant    create | list
  key       create | list | revoke; generate (offline, for serve --admin-key-file)
  credits   grant <tenant> <amount>; show [tenant] (a tenant key: its own)

Every client command takes --api-key (or LATENTFARM_API_KEY); up and serve --no-auth need none.

Exit status: 0 done, 1 failed (a job that did not succeed, an error from the farm), 2 bad input.`;

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  // grpc-js prints its own "E No address added…" lines; every failure reaches us too and is said once, in
  // words. GRPC_VERBOSITY still turns them on for debugging.
  if (process.env['GRPC_VERBOSITY'] === undefined) setLogVerbosity(logVerbosity.NONE);
  quietIpServerNameWarning();
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      print(USAGE);
      return name === undefined ? 2 : 0;
    }
    // The farm's parts (onnxruntime, sharp, NATS) load only for the commands that run them, so the
    // job commands and --help start quickly.
    if (name === 'serve') {
      const { runServe } = await import('@latentfarm/coordinator');
      const c = await runServe(rest);
      if (c !== undefined) await new Promise(() => undefined); // serve until a signal ends the process
      return 0;
    }
    if (name === 'worker') {
      const { runWorker } = await import('@latentfarm/worker');
      await runWorker(rest);
      return 0;
    }
    if (name === 'up') {
      const { runUp } = await import('./up.js');
      return await runUp(rest);
    }
    const group = adminCommands[name];
    if (group !== undefined) {
      const [sub, ...args] = rest;
      if (sub === '--help' || sub === '-h') {
        print(`Usage: latentfarm ${name} <${Object.keys(group).join('|')}> [options]   (latentfarm ${name} <subcommand> --help for its options)`);
        return 0;
      }
      const cmd = sub === undefined ? undefined : group[sub];
      if (cmd === undefined) {
        printErr(`latentfarm ${name}: ${sub === undefined ? 'missing' : `unknown subcommand "${sub}"`}: use one of ${Object.keys(group).join(', ')}`);
        return 2;
      }
      return await runCommand(cmd, args);
    }
    const cmd = commands[name];
    if (cmd === undefined) {
      printErr(`latentfarm: unknown command "${name}"\n\n${USAGE}`);
      return 2;
    }
    return await runCommand(cmd, rest);
  } catch (err) {
    const { line, code } = explain(err);
    printErr(`latentfarm ${name}: ${line}`);
    return code;
  }
}

/** One line and an exit status for whatever ended a command: 2 for bad input, 1 for the rest. */
function explain(err: unknown): { line: string; code: number } {
  if (err instanceof ConfigError || err instanceof InvalidArgumentError) return { line: err.message, code: 2 };
  const file = fileProblem(err);
  if (file !== undefined) return { line: file.message, code: 2 };
  // A domain error names a failure the user can act on (a coordinator not reachable, a worker whose id another
  // process took), not a bug.
  if (err instanceof LatentfarmError) return { line: err.message, code: 1 };
  const se = err as Partial<ServiceError>;
  if (typeof se.code === 'number') {
    // A quota or a full queue says when a retry may succeed (google.rpc.RetryInfo).
    const retry = retryDelayMs(err);
    const when = retry === undefined ? '' : `; retry in ${Math.max(1, Math.ceil(retry / 1000))} s`;
    return { line: `${status[se.code] ?? se.code}: ${se.details ?? se.message ?? ''}${when}`, code: 1 };
  }
  // Not an error a user can cause: a bug. Its stack is for a report, on request.
  const e = err instanceof Error ? err : new Error(String(err));
  const debug = ['debug', 'trace'].includes(process.env['LATENTFARM_LOG_LEVEL'] ?? '');
  return {
    line: `internal error: ${e.name}: ${e.message}${debug ? `\n${e.stack ?? ''}` : ' (LATENTFARM_LOG_LEVEL=debug shows where)'}`,
    code: 1,
  };
}
