// A worker's id is bound to its credential: on the mTLS worker port, a hello
// may only claim the id its client certificate names. Without this, anyone
// with a certificate from the farm's CA could say hello as a live worker and
// have its leases requeued (the coordinator replaces a worker that reconnects).
import { status } from '@grpc/grpc-js';
import { verifiedPeerName, type CallWithAuthContext } from './tls.js';

/** Ids are echoed in the refusal cut to this many characters (an id is the caller's input). */
const ECHO_CHARS = 64;

export interface HelloRefusal {
  readonly code: status;
  readonly details: string;
  /** The verified certificate's name, for the log; undefined when there was none. */
  readonly certName: string | undefined;
}

/**
 * Why this hello may not take `workerId`; undefined when it may.
 * UNAUTHENTICATED: no verified certificate names the caller (a port that did
 * not verify one: a wiring error, refused rather than trusted).
 * PERMISSION_DENIED: the caller is authenticated as another worker.
 */
export function helloIdentityProblem(call: CallWithAuthContext, workerId: string): HelloRefusal | undefined {
  const certName = verifiedPeerName(call);
  if (certName === undefined) {
    return { code: status.UNAUTHENTICATED, details: 'a worker must present a client certificate naming it (its subject CN)', certName };
  }
  if (certName === workerId) return undefined;
  const id = workerId.length > ECHO_CHARS ? `${workerId.slice(0, ECHO_CHARS)}…` : workerId;
  return {
    code: status.PERMISSION_DENIED,
    details: `worker_id "${id}" is not the name in this worker's certificate ("${certName.slice(0, ECHO_CHARS)}"): start the worker with --id ${certName.slice(0, ECHO_CHARS)}`,
    certName,
  };
}
