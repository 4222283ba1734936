// What every client command shares: its shape, the connection flags, one
// client per run, and the translation of connection failures.
import { randomUUID } from 'node:crypto';
import { checkAddress, formatHelp, opt, parseOptions, readCaFile, type OptionSpecs } from '@latentfarm/common';
import { FarmClient, type RetryInfo } from '@latentfarm/client';
import { printErr } from './output.js';
import { connectionFailure, unreachable } from './unreachable.js';

export const clientOptions = {
  coordinator: opt.string('Coordinator address (host:port)', '127.0.0.1:7400'),
  deadlineMs: opt.int('Deadline of each call, retries included (a submit retries while the coordinator is unreachable)', 30_000, { min: 1 }),
  tls: opt.bool('Connect over TLS, verifying the coordinator against the system\'s CAs (implied by --tls-ca)', false),
  tlsCa: opt.string('Connect over TLS, verifying the coordinator against this CA bundle (PEM)', ''),
  apiKey: opt.string('API key (lf_…) sent with every call; not needed by a farm run with up or serve --no-auth', ''),
  json: opt.bool('Print the reply as JSON (proto3 JSON mapping: enum names, lowerCamel fields), one message per line', false),
};

export interface Command {
  usage: string;
  options: OptionSpecs;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

/** A key of its own for each submit (idempotency key) or grant (request id), so the SDK may retry it without ever doing it twice. */
export const newIdempotencyKey = (): string => `cli-${randomUUID()}`;

/**
 * Says once per RPC on stderr that a call is being retried, and with `safeBy` what makes that harmless (the key
 * to send again by hand, should the deadline pass too).
 */
export function retryNotice(address: string, safeBy: (method: string) => string | undefined): (r: RetryInfo) => void {
  const told = new Set<string>();
  return (r) => {
    if (told.has(r.method)) return;
    told.add(r.method);
    const why = connectionFailure(r.error) ?? r.error.details;
    const safe = safeBy(r.method);
    printErr(`coordinator at ${address} unavailable (${why}); retrying ${r.method}${safe === undefined ? '' : ` (${safe})`} until the deadline, ${r.deadline.toISOString()}`);
  };
}

/** Attempts of a command that only reads: a coordinator restart takes seconds; one that is down should be said at once. */
const READ_ATTEMPTS = 4;

/** The client's TLS option from --tls and --tls-ca (a CA that cannot be read: one line, exit 2); none for plaintext. */
async function tlsOption(v: Record<string, unknown>): Promise<{ tls?: { ca?: Buffer } }> {
  const tlsCa = v['tlsCa'] as string;
  const ca = tlsCa === '' ? undefined : await readCaFile('--tls-ca', tlsCa);
  return ca !== undefined || v['tls'] === true ? { tls: ca === undefined ? {} : { ca } } : {};
}

/** What the connection flags give every client (FarmClient and AdminClient take the same). */
export interface ConnectionOptions {
  tls?: { ca?: Buffer };
  deadlineMs: number;
  apiKey: string;
}

/**
 * Runs `fn` with a client that `make` builds for the coordinator the flags
 * name, and closes it. A coordinator that cannot be reached becomes one line
 * saying where and what to check.
 */
export async function withConnection<C extends { close(): void }, T>(
  v: Record<string, unknown>, make: (address: string, options: ConnectionOptions) => C, fn: (c: C) => Promise<T>,
): Promise<T> {
  const address = checkAddress('--coordinator', v['coordinator'] as string);
  const tls = await tlsOption(v);
  const c = make(address, { ...tls, deadlineMs: v['deadlineMs'] as number, apiKey: v['apiKey'] as string });
  try {
    return await fn(c);
  } catch (err) {
    throw unreachable(err, address, tls.tls !== undefined) ?? err;
  } finally {
    c.close();
  }
}

/**
 * Runs `fn` with a farm client (withConnection). With `idempotencyKey` (a
 * submit), calls retry until the deadline, saying so once on stderr.
 */
export function withClient<T>(v: Record<string, unknown>, fn: (c: FarmClient) => Promise<T>, idempotencyKey?: () => string): Promise<T> {
  return withConnection(v, (address, options) => new FarmClient(address, {
    ...options,
    ...(idempotencyKey === undefined ? { retries: READ_ATTEMPTS } : {
      onRetry: retryNotice(address, (method) => (method.startsWith('SubmitJob') ? `idempotency key ${idempotencyKey()}, so it cannot make two jobs` : undefined)),
    }),
  }), fn);
}

export function runCommand(cmd: Command, argv: readonly string[]): Promise<number> {
  const { values, positionals, help } = parseOptions(cmd.options, argv);
  if (help) {
    process.stdout.write(formatHelp(cmd.usage, cmd.options));
    return Promise.resolve(0);
  }
  return cmd.run(values as Record<string, unknown>, positionals);
}
