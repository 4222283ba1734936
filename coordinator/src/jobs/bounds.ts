// Bounds every request is held to before the farm looks at it, and the one way
// an error quotes what was sent: a short prefix, so a 10 MB id does not come
// back as a 10 MB status (a grpcio client cannot even read a status past ~8 KB).
import { InvalidArgumentError } from '@latentfarm/common';

/** Characters of a caller's input an error message quotes. */
export const EXCERPT_CHARS = 64;

/** `value` quoted for an error message: at most `max` characters of it, then "…" when it was longer. */
export function excerpt(value: string, max = EXCERPT_CHARS): string {
  return value.length <= max ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, max))}…`;
}

/** Throws INVALID_ARGUMENT unless `value` (an id of some kind) is at most `max` characters. */
export function checkIdLength(field: string, value: string, max: number): void {
  if (value.length > max) throw new InvalidArgumentError(field, `${excerpt(value, 16)} is ${value.length} characters, at most ${max} allowed`);
}

export interface LabelLimits {
  maxLabels: number;
  maxLabelKeyChars: number;
  maxLabelValueChars: number;
  /** All keys and values of one job together. */
  maxLabelsChars: number;
}

/** A job's labels: how many, how long each key and value, how long all together. */
export function checkLabels(field: string, labels: Readonly<Record<string, string>>, l: LabelLimits): void {
  const entries = Object.entries(labels);
  if (entries.length > l.maxLabels) throw new InvalidArgumentError(field, `${entries.length} labels, at most ${l.maxLabels} allowed`);
  let total = 0;
  for (const [k, v] of entries) {
    if (k.length > l.maxLabelKeyChars) throw new InvalidArgumentError(field, `key ${excerpt(k, 16)} is ${k.length} characters, at most ${l.maxLabelKeyChars} allowed`);
    if (v.length > l.maxLabelValueChars) {
      throw new InvalidArgumentError(`${field}[${excerpt(k, 16)}]`, `value is ${v.length} characters, at most ${l.maxLabelValueChars} allowed`);
    }
    total += k.length + v.length;
  }
  if (total > l.maxLabelsChars) throw new InvalidArgumentError(field, `${total} characters in keys and values together, at most ${l.maxLabelsChars} allowed`);
}
