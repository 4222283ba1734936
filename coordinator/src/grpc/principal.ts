// Who is calling, read from a call in one place: every handler asks here once
// per call and passes the answer on. Nobody authenticates yet, so every call
// is anonymous; issue 13 replaces this with what a server interceptor decided
// from the call's metadata (handlers never parse credentials themselves).
import type { Metadata } from '@grpc/grpc-js';
import { ANONYMOUS, type Principal } from '../farm/principal.js';

export function principalOf(_call: { readonly metadata: Metadata }): Principal {
  return ANONYMOUS;
}
