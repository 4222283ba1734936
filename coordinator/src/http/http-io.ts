// Small pieces of HTTP every route uses: JSON in and out, errors as one line
// with the right status, and server-sent events with backpressure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError } from '@latentfarm/common';
import type { ErrorView } from '@latentfarm/console';
import { errorMessage, httpStatus, TooLargeError } from './status.js';

/** Largest request body: a pasted prompt file of a few thousand lines fits; millions belong to the CLI's streamed submit. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body: ErrorView = { error: errorMessage(err) };
  sendJson(res, httpStatus(err), body);
}

/**
 * The request's JSON body. Only `application/json` is read: a page on another
 * site cannot send that without the browser asking first (CORS), so together
 * with the SameSite=Strict cookie it cannot act on a logged-in console.
 */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new InvalidArgumentError('content-type', 'send the body as application/json');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new TooLargeError(`the request body is over ${MAX_BODY_BYTES / 1024 / 1024} MiB: submit large prompt files with \`latentfarm submit\``);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidArgumentError('body', 'not valid JSON');
  }
}

export interface EventSink {
  /** Sends one event; resolves when the connection can take more. */
  send(data: unknown, options?: { id?: number; event?: string }): Promise<void>;
  readonly signal: AbortSignal;
}

/** Starts a server-sent event stream; `signal` aborts when the browser goes away. */
export function openEventStream(req: IncomingMessage, res: ServerResponse): EventSink {
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  req.socket.setNoDelay(true);
  res.writeHead(200, {
    ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive',
    // Proxies such as nginx would otherwise hold events back in their buffers.
    'x-accel-buffering': 'no',
  });
  res.write(': open\n\n');
  return {
    signal: ac.signal,
    async send(data, o = {}) {
      if (ac.signal.aborted) return;
      const head = `${o.event !== undefined ? `event: ${o.event}\n` : ''}${o.id !== undefined ? `id: ${o.id}\n` : ''}`;
      if (res.write(`${head}data: ${JSON.stringify(data)}\n\n`)) return;
      await new Promise<void>((resolve) => {
        const done = () => { res.off('drain', done); ac.signal.removeEventListener('abort', done); resolve(); };
        res.once('drain', done);
        ac.signal.addEventListener('abort', done, { once: true });
      });
    },
  };
}
