// Who is calling, read from a call in one place: the auth interceptor
// (auth-interceptor.ts) decides from the call's key and records the answer
// against the call's metadata object, which grpc-js hands on to the handler;
// every handler asks here once per call and passes the answer on.
import type { Metadata } from '@grpc/grpc-js';
import type { Principal } from '../farm/principal.js';

const principals = new WeakMap<Metadata, Principal>();

export function setPrincipal(metadata: Metadata, principal: Principal): void {
  principals.set(metadata, principal);
}

export function principalOf(call: { readonly metadata: Metadata }): Principal {
  const p = principals.get(call.metadata);
  // Every service is behind the interceptor; a call without a principal is a wiring bug, and must not run as anyone.
  if (p === undefined) throw new Error('no principal for this call: the auth interceptor did not run');
  return p;
}
