// A file or folder the user named that cannot be read or written is bad
// input: one line naming it, exit 2 (not Node's `Error: ENOENT…` and a stack).
import { InvalidArgumentError } from '@latentfarm/common';

const PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EEXIST: 'already exists and is not a folder',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'name too long',
};

/**
 * The one-line error for a failed file operation; undefined when `err` is not
 * one. `where`: the flag, if a flag named the file; `file`: its name, for
 * errors that carry none (a read of a folder).
 */
export function fileProblem(err: unknown, where = '', file?: string): InvalidArgumentError | undefined {
  const e = err as { code?: unknown; path?: unknown; syscall?: unknown };
  if (typeof e.code !== 'string' || typeof e.syscall !== 'string') return undefined;
  const problem = PROBLEMS[e.code];
  if (problem === undefined) return undefined;
  const name = typeof e.path === 'string' ? e.path : file;
  const path = name !== undefined ? `${name}: ` : '';
  return new InvalidArgumentError(where, `${path}${problem}`, { cause: err });
}
