// Transport security of the coordinator's gRPC ports, and the one place a
// worker's name is read from its verified client certificate.
//
// grpc-js decides "client certificate required" per port (createSsl's
// checkClientCertificate), and clients (RenderFarm, authenticated by API key)
// carry no certificate. So with mTLS the WorkerGateway moves to a port of its
// own (--worker-port) that requires a certificate issued by --tls-client-ca,
// and the client port serves TLS without asking for one. Without mTLS the
// worker port is optional and, when set, has the client port's transport.
import type { PeerCertificate } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import { readCaFile, readKeyPair } from '@latentfarm/common';
import type { CoordinatorConfig } from '../config.js';

export interface PortCredentials {
  /** RenderFarm (and WorkerGateway when workers share the port). */
  readonly clients: ServerCredentials;
  /** The WorkerGateway's own port (--worker-port). */
  readonly workers: ServerCredentials;
  /** True when the worker port requires a client certificate: then every hello must name its certificate. */
  readonly mtls: boolean;
}

/** Reads and checks the --tls-* files; throws a ConfigError naming the flag for any that is wrong. */
export async function portCredentials(c: Pick<CoordinatorConfig, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>): Promise<PortCredentials> {
  if (c.tlsCert === '') return { clients: ServerCredentials.createInsecure(), workers: ServerCredentials.createInsecure(), mtls: false };
  const pair = await readKeyPair({ cert: '--tls-cert', key: '--tls-key' }, { cert: c.tlsCert, key: c.tlsKey });
  const keyCertPairs = [{ cert_chain: pair.cert, private_key: pair.key }];
  const clients = ServerCredentials.createSsl(null, keyCertPairs, false);
  if (c.tlsClientCa === '') return { clients, workers: clients, mtls: false };
  const ca = await readCaFile('--tls-client-ca', c.tlsClientCa);
  // Node's TLS server rejects a connection without a certificate, or with one --tls-client-ca did not issue,
  // at the handshake (rejectUnauthorized defaults to true once a certificate is requested).
  return { clients, workers: ServerCredentials.createSsl(ca, keyCertPairs, true), mtls: true };
}

/** What a grpc-js server call (or server interceptor call) tells of its transport. */
export interface CallWithAuthContext {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined } | null;
}

/**
 * The name in the caller's client certificate, verified against
 * --tls-client-ca at the handshake; undefined on a port without mTLS, or when
 * the certificate names no single one.
 *
 * The name is the subject's common name (CN), as Kubernetes names a user by
 * its client certificate's CN, and as cert-manager's csi-driver writes the pod
 * name into it. A subject with several CNs names nobody: which one would be
 * the worker is a guess.
 */
export function verifiedPeerName(call: CallWithAuthContext): string | undefined {
  // grpc-js sets the peer certificate only when the TLS socket is authorized (the chain verified).
  const cert = call.getAuthContext()?.sslPeerCertificate;
  const cn: unknown = cert?.subject.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
