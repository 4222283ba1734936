// Why a server could not listen (Node's `listen` error or grpc-js's bind
// message), and the one line a user reads for it, naming the flag to change.
import { ConfigError, LatentfarmError } from './errors.js';

export type ListenProblem = 'in-use' | 'not-local' | 'denied' | 'unresolved';

export class ListenError extends LatentfarmError {
  constructor(readonly host: string, readonly port: number, readonly problem: ListenProblem, options?: { cause?: unknown }) {
    super(`cannot listen on ${host}:${port}: ${PROBLEM_TEXT[problem]}`, options);
  }
}

const PROBLEM_TEXT: Record<ListenProblem, string> = {
  'in-use': 'the port is already in use',
  'not-local': 'not an address of this machine',
  denied: 'permission denied',
  unresolved: 'the host name does not resolve',
};

// grpc-js reports a failed bind as text ("No address added … [listen EADDRINUSE: …]"), Node as `err.code`.
const PATTERNS: [RegExp, ListenProblem][] = [
  [/EADDRINUSE/, 'in-use'],
  [/EADDRNOTAVAIL/, 'not-local'],
  [/EACCES|EPERM/, 'denied'],
  [/ENOTFOUND|EAI_AGAIN|Name resolution failed/, 'unresolved'],
];

/** Classifies a failed listen; undefined when it is none of the problems a user can fix by a flag. */
export function listenError(err: unknown, host: string, port: number): ListenError | undefined {
  if (err instanceof ListenError) return err;
  const e = err as { code?: unknown; message?: unknown };
  const text = `${typeof e.code === 'string' ? e.code : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  for (const [re, problem] of PATTERNS) if (re.test(text)) return new ListenError(host, port, problem, { cause: err });
  return undefined;
}

/** The one line for a failed listen, naming the flags that set the address (e.g. `--metrics-port`, `--metrics-host`). */
export function listenConfigError(err: ListenError, flags: { host: string; port: string; offHint?: string }): ConfigError {
  const where = `${err.host}:${err.port}`;
  switch (err.problem) {
    case 'in-use':
      return new ConfigError(`${flags.port}: ${where} is already in use (another latentfarm process?); choose another ${flags.port}, 0 for any free port${flags.offHint ?? ''}`, { cause: err });
    case 'denied':
      return new ConfigError(`${flags.port}: not allowed to listen on ${where} (ports below 1024 need privileges); choose another ${flags.port}`, { cause: err });
    case 'not-local':
      return new ConfigError(`${flags.host}: cannot listen on ${err.host}: not an address of this machine (127.0.0.1 for this host only, 0.0.0.0 for all interfaces)`, { cause: err });
    case 'unresolved':
      return new ConfigError(`${flags.host}: "${err.host}" does not resolve to an address`, { cause: err });
  }
}
