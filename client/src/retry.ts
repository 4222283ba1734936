// The SDK's one retry rule, for both clients: a call that may be sent again
// (it reads, or carries a key that makes a repeat harmless) is tried again on
// UNAVAILABLE, with backoff, while the next attempt can start before its deadline.
import { setTimeout as sleep } from 'node:timers/promises';
import { status, type ServiceError } from '@grpc/grpc-js';
import { backoffMs } from './backoff.js';

/** A retryable call met UNAVAILABLE (coordinator down or restarting) and is tried again. */
export interface RetryInfo {
  /** The RPC, e.g. `SubmitJob`. */
  method: string;
  /** 1 for the first retry. */
  attempt: number;
  error: ServiceError;
  /** When the call gives up. */
  deadline: Date;
}

export interface RetryPolicy {
  /** Most attempts (Infinity: as many as fit before the deadline). */
  retries: number;
  onRetry: ((retry: RetryInfo) => void) | undefined;
}

// A TLS handshake that failed on the certificate (not trusted, wrong name) or the protocol (TLS at a plaintext
// port) fails the same way at every attempt: UNAVAILABLE, but not worth waiting out the deadline for.
const TLS_FAILURE = /certificate|altnames|SSL routines|wrong version number/i;

function retryable(err: ServiceError): boolean {
  return err.code === status.UNAVAILABLE && !(typeof err.details === 'string' && TLS_FAILURE.test(err.details));
}

export async function retryUnavailable<T>(method: string, deadline: Date, policy: RetryPolicy, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = backoffMs(attempt, 100, 2000);
      if (attempt + 1 >= policy.retries || !retryable(err as ServiceError) || Date.now() + wait >= deadline.getTime()) throw err;
      policy.onRetry?.({ method, attempt: attempt + 1, error: err as ServiceError, deadline });
      await sleep(wait);
    }
  }
}
