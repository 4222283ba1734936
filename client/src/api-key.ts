// Sends an API key with every call of a client: one client interceptor adds
// `authorization: Bearer <key>` metadata, so no call can forget it. (Call
// credentials would do the same but grpc-js allows them only over TLS.)
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';

export function apiKeyInterceptor(apiKey: string): Interceptor {
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('authorization', `Bearer ${apiKey}`);
      next(metadata, listener);
    },
  });
}

/** Channel options that send `apiKey` (none when it is empty: a farm run without auth). */
export function apiKeyOptions(apiKey: string | undefined): { interceptors?: Interceptor[] } {
  return apiKey === undefined || apiKey === '' ? {} : { interceptors: [apiKeyInterceptor(apiKey)] };
}
