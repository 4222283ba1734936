// When a refused call may be retried: the google.rpc.RetryInfo the farm sends
// with RESOURCE_EXHAUSTED at a quota or a full queue (in the
// `grpc-status-details-bin` trailer).
import type { ServiceError } from '@grpc/grpc-js';
import { retryDelayMsOf, STATUS_DETAILS_KEY } from '@latentfarm/proto';

/** The delay (ms) the farm asked for before a retry; undefined when it named none (retrying as is would not help). */
export function retryDelayMs(err: unknown): number | undefined {
  const md = (err as Partial<ServiceError> | undefined)?.metadata;
  if (md === undefined || typeof md.get !== 'function') return undefined;
  for (const v of md.get(STATUS_DETAILS_KEY)) {
    if (typeof v === 'string') continue;
    const ms = retryDelayMsOf(v);
    if (ms !== undefined) return ms;
  }
  return undefined;
}
