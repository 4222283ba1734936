// Certificates made at test time with Debian's `openssl` binary (OpenSSL 3:
// `req -x509 -CA` signs in one step), valid for two days, so no committed
// certificate ever expires under the suite. A CA, a server certificate for
// loopback (DNS:localhost, IP:127.0.0.1) and client certificates whose common
// name names a worker. Node's crypto parses certificates but cannot issue them.
import { join } from 'node:path';
import { onPath, runProgram } from './prometheus.js';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestCa {
  /** The CA's certificate (PEM): what --tls-ca and --tls-client-ca name. */
  readonly ca: string;
  /** A server certificate for 127.0.0.1 and localhost. */
  server(name?: string): Promise<CertFiles>;
  /** A client certificate whose subject CN is `cn` (a worker's name). */
  client(cn: string): Promise<CertFiles>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];

async function openssl(args: string[]): Promise<void> {
  const r = await runProgram('openssl', args);
  if (r.code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed (${String(r.code)}):\n${r.output}`);
}

/** A new CA in `dir`; files are named after `label`, so several CAs (a trusted one, a rogue one) share a folder. */
export async function makeTestCa(dir: string, label = 'ca'): Promise<TestCa> {
  if (!onPath('openssl')) throw new Error('openssl is not on the PATH: apt-get install openssl (scripts/install-test-services.sh does)');
  const ca = join(dir, `${label}.crt`);
  const caKey = join(dir, `${label}.key`);
  await openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-subj', `/CN=latentfarm test ${label}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const issue = async (file: string, cn: string, ext: string[]): Promise<CertFiles> => {
    const files = { cert: join(dir, `${label}-${file}.crt`), key: join(dir, `${label}-${file}.key`) };
    await openssl(['req', '-x509', ...EC, '-keyout', files.key, '-out', files.cert, '-subj', `/CN=${cn}`, '-CA', ca, '-CAkey', caKey,
      '-addext', 'basicConstraints=critical,CA:FALSE', ...ext.flatMap((e) => ['-addext', e])]);
    return files;
  };
  return {
    ca,
    server: (name = 'coordinator') => issue(`server-${name}`, name, ['subjectAltName=DNS:localhost,IP:127.0.0.1', 'extendedKeyUsage=serverAuth']),
    client: (cn) => issue(`client-${cn}`, cn, ['extendedKeyUsage=clientAuth']),
  };
}
