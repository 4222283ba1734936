// "No connection established. Last error: … Resolution note: " tells a user
// nothing they can act on: say which address was tried, why it failed, and
// what to check.
import { status, type ServiceError } from '@grpc/grpc-js';
import { LatentfarmError } from '@latentfarm/common';

export class CoordinatorUnreachableError extends LatentfarmError {}

// grpc-js's text for a channel that could not connect (as opposed to an UNAVAILABLE the coordinator itself sent).
// TLS reasons come first: their OpenSSL text can contain words of the others.
const TLS_REASONS: [RegExp, string, string][] = [
  [/altnames|does not match certificate|ERR_TLS_CERT_ALTNAME/i, 'its TLS certificate does not name this host',
    'connect by a name the certificate lists (its subjectAltName), e.g. the Service\'s DNS name'],
  [/certificate|self[- ]signed|unable to (verify|get)|CERT_/i, 'its TLS certificate is not trusted',
    'set --tls-ca (LATENTFARM_TLS_CA) to the CA that issued the coordinator\'s certificate'],
  [/wrong version number|packet length too long|SSL routines|ssl3_get_record|tlsv1 alert/i, 'the TLS handshake failed',
    'is the coordinator serving plaintext? Leave out --tls and --tls-ca for it'],
];
const REASONS: [RegExp, string][] = [
  [/ECONNREFUSED/, 'connection refused'],
  [/Name resolution failed|ENOTFOUND|EAI_AGAIN/, 'the host name does not resolve'],
  [/EHOSTUNREACH|ENETUNREACH/, 'no route to the host'],
  [/ETIMEDOUT/, 'the connection timed out'],
  [/ECONNRESET|Connection dropped|Protocol error|connection closed/i, 'the connection was dropped (is it a gRPC port?)'],
  [/No connection established|Failed to connect/, 'no connection could be made'],
];

/** What a plaintext client at a TLS port is told. */
const PLAINTEXT_AT_TLS = new Set(['the connection was dropped (is it a gRPC port?)', 'no connection could be made']);

interface Failure { reason: string; hint: string | undefined }

function classify(err: unknown): Failure | undefined {
  const e = err as Partial<ServiceError>;
  if (e.code !== status.UNAVAILABLE || typeof e.details !== 'string') return undefined;
  for (const [re, reason, hint] of TLS_REASONS) if (re.test(e.details)) return { reason, hint };
  for (const [re, reason] of REASONS) if (re.test(e.details)) return { reason, hint: undefined };
  return undefined;
}

/** Why the channel to `address` failed, when `err` is a failure to connect; undefined for any other error. */
export function connectionFailure(err: unknown): string | undefined {
  return classify(err)?.reason;
}

/**
 * `tls`: whether the client dialled over TLS. A plaintext client at a TLS
 * port is refused without a word grpc-js passes on ("Failed to connect"), so
 * the hint names the TLS flags.
 */
export function unreachable(err: unknown, address: string, tls = false): CoordinatorUnreachableError | undefined {
  const f = classify(err);
  if (f === undefined) return undefined;
  const hint = f.hint ?? (
    'is `latentfarm serve` (or `latentfarm up`) running there? Set --coordinator or LATENTFARM_COORDINATOR to its host:port' +
    (tls || !PLAINTEXT_AT_TLS.has(f.reason) ? '' : '; a coordinator serving TLS needs --tls-ca (or --tls)')
  );
  return new CoordinatorUnreachableError(`cannot reach the coordinator at ${address}: ${f.reason} — ${hint}`, { cause: err });
}
