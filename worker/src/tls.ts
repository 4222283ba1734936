// How the worker dials the coordinator: plaintext, TLS, or TLS with this
// worker's client certificate (mTLS). The certificate names the worker: its
// subject's common name is the id the coordinator lets it say hello with, so
// the id defaults to it, and an --id that differs fails the start here rather
// than every hello at the coordinator.
import { X509Certificate } from 'node:crypto';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { ConfigError, readCaFile, readKeyPair } from '@latentfarm/common';
import type { WorkerConfig } from './config.js';

export interface WorkerTransport {
  readonly credentials: ChannelCredentials;
  /** The worker id: --id, or the client certificate's common name. */
  readonly id: string;
}

export async function workerTransport(c: Pick<WorkerConfig, 'id' | 'tls' | 'tlsCa' | 'tlsCert' | 'tlsKey'>): Promise<WorkerTransport> {
  if (!c.tls && c.tlsCa === '' && c.tlsCert === '') return { credentials: credentials.createInsecure(), id: c.id };
  const ca = c.tlsCa === '' ? null : await readCaFile('--tls-ca', c.tlsCa);
  if (c.tlsCert === '') return { credentials: credentials.createSsl(ca), id: c.id };
  const pair = await readKeyPair({ cert: '--tls-cert', key: '--tls-key' }, { cert: c.tlsCert, key: c.tlsKey });
  const name = commonName(new X509Certificate(pair.cert));
  if (name === undefined) throw new ConfigError(`--tls-cert: "${c.tlsCert}" names no worker (its subject has no single CN)`);
  if (c.id !== '' && c.id !== name) {
    throw new ConfigError(`--id: "${c.id.slice(0, 64)}" is not the name in --tls-cert ("${name}"); the coordinator would refuse it. Leave --id unset to use the certificate's`);
  }
  return { credentials: credentials.createSsl(ca, pair.key, pair.cert), id: name };
}

/** The subject's CN, as the coordinator reads it (coordinator/src/grpc/tls.ts); undefined unless there is exactly one. */
function commonName(cert: X509Certificate): string | undefined {
  const cns = cert.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
  return cns.length === 1 && cns[0] !== '' ? cns[0] : undefined;
}
