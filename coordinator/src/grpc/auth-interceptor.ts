// The one server interceptor that decides who is calling: it reads the
// `authorization` metadata before any handler runs, refuses the call
// (UNAUTHENTICATED: no, unknown, revoked or expired key; PERMISSION_DENIED: a
// role on the wrong service) or records its principal for the handler, and
// takes the key out of the metadata, so no handler ever sees a credential.
import { ServerInterceptingCall, status, type Metadata, type ServerInterceptor } from '@grpc/grpc-js';
import { isPublic } from '../auth/access.js';
import type { Authenticator } from '../auth/authenticator.js';
import { LOCAL_ADMIN, type Principal } from '../farm/principal.js';
import { setPrincipal } from './principal.js';
import { verifiedPeerName } from './tls.js';
import { toServiceError } from './status.js';

/** `authenticator` undefined: a farm without auth (`--no-auth`, `up`): every caller is the local admin. */
export function authInterceptor(authenticator: Authenticator | undefined): ServerInterceptor {
  return (method, call) => new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata: Metadata, pass) {
          const header = metadata.get('authorization')[0];
          metadata.remove('authorization');
          decide(authenticator, method.path, typeof header === 'string' ? header : undefined, call.getPeer(), verifiedPeerName(call)).then(
            (principal) => {
              if (principal !== undefined) setPrincipal(metadata, principal);
              pass(metadata);
            },
            (err: unknown) => {
              const e = toServiceError(err);
              call.sendStatus({ code: e.code ?? status.INTERNAL, details: e.details ?? 'refused' });
            },
          );
        },
      });
    },
  });
}

async function decide(
  authenticator: Authenticator | undefined, path: string, header: string | undefined, peer: string, certName: string | undefined,
): Promise<Principal | undefined> {
  // Public services (health, reflection) get no principal: they read none, and nothing may act as one there.
  if (isPublic(path)) return undefined;
  if (authenticator === undefined) return LOCAL_ADMIN;
  // On the mTLS worker port (--tls-client-ca) the verified client certificate is a worker's credential: it names
  // the one worker id it may connect as (grpc/tls.ts); a key, if sent as well, is checked as any key.
  if (header === undefined && certName !== undefined && path.startsWith('/latentfarm.v1.WorkerGateway/')) {
    return { kind: 'worker', workerId: certName, keyId: `cert:${certName}` };
  }
  return authenticator.authorize(header, { method: path, peer });
}
