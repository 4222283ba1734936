// google.rpc.RetryInfo in the rich error model: how a refused call says when
// a retry may succeed. The coordinator packs one into the google.rpc.Status it
// sends in the `grpc-status-details-bin` trailer; clients read it back. One
// place for both sides, so the type URL and the units cannot drift apart.
import type { Any } from './gen/google/protobuf/any.js';
import { RetryInfo } from './gen/google/rpc/error_details.js';
import { Status } from './gen/google/rpc/status.js';

/** The trailer that carries a serialized google.rpc.Status (grpc-js passes `-bin` values as Buffers). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** A google.rpc.Status of `code` and `message` carrying RetryInfo(`delayMs`), serialized. */
export function statusWithRetryDelay(code: number, message: string, delayMs: number): Buffer {
  const ms = Math.max(0, Math.round(delayMs));
  const retry = RetryInfo.encode({ retryDelay: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 } }).finish();
  return Buffer.from(Status.encode({ code, message, details: [{ typeUrl: RETRY_INFO_TYPE_URL, value: Buffer.from(retry) }] }).finish());
}

/** The RetryInfo delay (ms) in a serialized google.rpc.Status; undefined when it has none or cannot be read. */
export function retryDelayMsOf(statusBytes: Uint8Array): number | undefined {
  try {
    const any: Any | undefined = Status.decode(statusBytes).details.find((d) => d.typeUrl === RETRY_INFO_TYPE_URL);
    if (any === undefined) return undefined;
    const d = RetryInfo.decode(any.value).retryDelay;
    return d === undefined ? undefined : d.seconds * 1000 + Math.round(d.nanos / 1_000_000);
  } catch {
    return undefined;
  }
}
