// A request whose bytes do not decode as its message (random bytes, a
// truncated message, a 64-bit number past 2^53−1 such as WatchJob's
// after_sequence) is the caller's fault: INVALID_ARGUMENT, not the INTERNAL
// grpc-js answers when a deserializer throws. So every request deserializer is
// wrapped to return a MalformedRequest instead of throwing; unary and
// server-streaming calls carrying one are refused here, before their handler
// runs, and the streaming handlers check each message they read (isMalformed).
import {
  status, type handleServerStreamingCall, type handleUnaryCall, type MethodDefinition, type ServiceDefinition, type UntypedServiceImplementation,
} from '@grpc/grpc-js';

export class MalformedRequest {
  constructor(readonly method: string, readonly problem: string) {}

  /** One line for the caller. */
  get message(): string {
    return `malformed ${this.method} request: ${this.problem}`;
  }
}

export const isMalformed = (msg: unknown): msg is MalformedRequest => msg instanceof MalformedRequest;

/** The 64-bit fields of a message, named in the error for a number past 2^53−1 (ts-proto's message for it names none). */
const BIG_NUMBER = /MAX_SAFE_INTEGER|MIN_SAFE_INTEGER/;

function problemOf(err: unknown, wideFields: string): string {
  const text = err instanceof Error ? err.message : String(err);
  if (BIG_NUMBER.test(text)) return `${wideFields} is out of range: at most 2^53−1 (9007199254740991)`;
  return `the bytes are not a valid protobuf message (${text.slice(0, 80)})`;
}

/**
 * The service with tolerant request decoding, and its handlers with unary and
 * server-streaming calls guarded. `wideFields` names each method's 64-bit
 * request fields for the out-of-range message.
 */
export function tolerant(
  definition: ServiceDefinition, handlers: UntypedServiceImplementation, wideFields: Readonly<Record<string, string>> = {},
): { definition: ServiceDefinition; handlers: UntypedServiceImplementation } {
  const defOut: Record<string, MethodDefinition<unknown, unknown>> = {};
  const handlersOut: UntypedServiceImplementation = { ...handlers };
  for (const [name, method] of Object.entries(definition) as [string, MethodDefinition<unknown, unknown>][]) {
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    const decode = method.requestDeserialize;
    defOut[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (err) {
          return new MalformedRequest(rpc, problemOf(err, wideFields[name] ?? 'a 64-bit number'));
        }
      },
    };
    const handler = handlers[name];
    if (handler === undefined || method.requestStream) continue;
    if (method.responseStream) {
      const inner = handler as handleServerStreamingCall<unknown, unknown>;
      const guarded: handleServerStreamingCall<unknown, unknown> = (call) => {
        const req: unknown = call.request;
        if (isMalformed(req)) call.emit('error', { code: status.INVALID_ARGUMENT, details: req.message });
        else inner(call);
      };
      handlersOut[name] = guarded;
    } else {
      const inner = handler as handleUnaryCall<unknown, unknown>;
      const guarded: handleUnaryCall<unknown, unknown> = (call, callback) => {
        const req: unknown = call.request;
        if (isMalformed(req)) callback({ code: status.INVALID_ARGUMENT, details: req.message });
        else inner(call, callback);
      };
      handlersOut[name] = guarded;
    }
  }
  return { definition: defOut, handlers: handlersOut };
}
