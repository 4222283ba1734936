// grpc-js sends the target's host as the TLS server name even when it is an
// IP address (`--coordinator 10.0.0.5:7400`), and Node then prints DEP0123
// ("Setting the TLS ServerName to an IP address is not permitted by RFC
// 6066") to stderr on the first TLS connection of every process. Nothing is
// wrong that a user can fix: the certificate is still checked against the
// address (its IP subjectAltName). That one warning is dropped; every other
// passes through.
const IP_SERVERNAME = 'DEP0123';

let installed = false;

export function quietIpServerNameWarning(): void {
  if (installed) return;
  installed = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    // emitWarning(warning, type, code) or emitWarning(warning, { code })
    const [, second, third] = args;
    const code = typeof second === 'object' && second !== null ? (second as { code?: unknown }).code : third;
    if (code === IP_SERVERNAME) return;
    emit(...args);
  }) as typeof process.emitWarning;
}
