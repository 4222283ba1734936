// The SDK's retry schedule. The SDK installs with the contract and grpc-js only, not with the farm's
// common module (which brings pino and prom-client), so it keeps this one function of its own.

/** Exponential backoff with full jitter, capped; attempt starts at 0. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}
