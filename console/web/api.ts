// The console's calls to its coordinator: JSON over fetch, and event streams.
// A 401 sends the page to the log-in form.
import type { ErrorView } from './api-types.js';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  const res = await fetch(path, init);
  const data = (await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))) as unknown;
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/api/login')) location.hash = '#/login';
    throw new ApiError(res.status, (data as ErrorView).error ?? `${res.status}`);
  }
  return data as T;
}

export const get = <T>(path: string): Promise<T> => call<T>('GET', path);
export const post = <T>(path: string, body: unknown = {}): Promise<T> => call<T>('POST', path, body);

/**
 * Follows a server-sent event stream until the server says `end` (a finished
 * job) or `stop` is called. The browser reconnects by itself after a network
 * drop, sending the last event id, so the stream resumes where it left off.
 */
export function follow<T>(path: string, onEvent: (e: T) => void, onEnd: () => void = () => undefined): () => void {
  const source = new EventSource(path);
  source.onmessage = (m: MessageEvent<string>) => onEvent(JSON.parse(m.data) as T);
  source.addEventListener('end', () => {
    source.close();
    onEnd();
  });
  return () => source.close();
}
