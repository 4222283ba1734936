// PEM files named by --tls-* flags, read and checked once at start: a path
// that cannot be read, a file that is not a certificate or key, or a key that
// does not belong to its certificate is one ConfigError naming the flag, not a
// handshake that fails later with an OpenSSL code nobody can act on.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError } from './errors.js';

const READ_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
};

async function readPem(flag: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`${flag}: cannot read "${path}" (${READ_PROBLEMS[code] ?? code})`, { cause: err });
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, parsed; a file with none, or one that does not parse, is a ConfigError. */
function parseCertificates(flag: string, path: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${flag}: "${path}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new ConfigError(`${flag}: "${path}" holds a certificate that does not parse`, { cause: err });
    }
  });
}

/** A CA bundle (PEM, one or more certificates) to verify the other side against. */
export async function readCaFile(flag: string, path: string): Promise<Buffer> {
  const pem = await readPem(flag, path);
  parseCertificates(flag, path, pem);
  return pem;
}

export interface KeyPair {
  /** PEM: the certificate, then any intermediates. */
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * A certificate chain and its private key; the key must be the one the first
 * certificate was issued for. Expiry is not checked here: TLS says so at the
 * handshake, and a certificate renewed in place (cert-manager) is read anew at
 * the next start.
 */
export async function readKeyPair(flags: { cert: string; key: string }, paths: { cert: string; key: string }): Promise<KeyPair> {
  const [cert, key] = await Promise.all([readPem(flags.cert, paths.cert), readPem(flags.key, paths.key)]);
  const [leaf] = parseCertificates(flags.cert, paths.cert, cert);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ConfigError(`${flags.key}: "${paths.key}" is not a PEM private key (an encrypted key is not supported)`, { cause: err });
  }
  if (leaf === undefined || !leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${flags.key}: "${paths.key}" is not the key of the certificate in ${flags.cert} "${paths.cert}"`);
  }
  return { cert, key };
}
