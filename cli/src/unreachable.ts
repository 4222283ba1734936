// "No connection established. Last error: … Resolution note: " tells a user
// nothing they can act on: say which address was tried, why it failed, and
// what to check.
import { status, type ServiceError } from '@grpc/grpc-js';
import { LatentfarmError } from '@latentfarm/common';

export class CoordinatorUnreachableError extends LatentfarmError {}

// grpc-js's text for a channel that could not connect (as opposed to an UNAVAILABLE the coordinator itself sent).
const REASONS: [RegExp, string][] = [
  [/ECONNREFUSED/, 'connection refused'],
  [/Name resolution failed|ENOTFOUND|EAI_AGAIN/, 'the host name does not resolve'],
  [/EHOSTUNREACH|ENETUNREACH/, 'no route to the host'],
  [/ETIMEDOUT/, 'the connection timed out'],
  [/ECONNRESET|Connection dropped|Protocol error|connection closed/i, 'the connection was dropped (is it a gRPC port?)'],
  [/No connection established|Failed to connect/, 'no connection could be made'],
];

/** Why the channel to `address` failed, when `err` is a failure to connect; undefined for any other error. */
export function connectionFailure(err: unknown): string | undefined {
  const e = err as Partial<ServiceError>;
  if (e.code !== status.UNAVAILABLE || typeof e.details !== 'string') return undefined;
  for (const [re, reason] of REASONS) if (re.test(e.details)) return reason;
  return undefined;
}

export function unreachable(err: unknown, address: string): CoordinatorUnreachableError | undefined {
  const reason = connectionFailure(err);
  if (reason === undefined) return undefined;
  return new CoordinatorUnreachableError(
    `cannot reach the coordinator at ${address}: ${reason} — is \`latentfarm serve\` (or \`latentfarm up\`) running there? ` +
    'Set --coordinator or LATENTFARM_COORDINATOR to its host:port',
    { cause: err },
  );
}
