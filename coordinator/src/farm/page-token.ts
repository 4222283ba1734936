// ListJobs page tokens: opaque to clients, and in fact the place in the
// listing order (creation time, id) where the page ended. A token names a
// place, not an offset, so jobs created or expired between two pages never
// shift or repeat the next one.
import { InvalidArgumentError } from '@latentfarm/common';
import { excerpt } from '../jobs/bounds.js';
import type { JobCursor } from '../store/store.js';

const TOKEN = /^(\d{1,16})\.([A-Za-z0-9_-]{1,200})$/;

export function encodePageToken(c: JobCursor): string {
  return Buffer.from(`${c.createdUnixMs}.${c.id}`).toString('base64url');
}

/** The place a token names; undefined for '' (the first page). Throws InvalidArgumentError for anything else. */
export function decodePageToken(token: string): JobCursor | undefined {
  if (token === '') return undefined;
  const m = /^[A-Za-z0-9_-]+$/.test(token) ? TOKEN.exec(Buffer.from(token, 'base64url').toString()) : null;
  if (m === null) throw new InvalidArgumentError('page_token', `${excerpt(token)} is not a token this server gave out`);
  return { createdUnixMs: Number(m[1]), id: m[2] as string };
}
