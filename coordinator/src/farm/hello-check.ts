// What a worker may say in its hello: bounded ids, names and lists, so a
// hostile hello cannot blow up the registry, the status or the logs.
import { InvalidArgumentError } from '@latentfarm/common';
import type { Hello } from '@latentfarm/proto';
import { checkIdLength } from '../jobs/bounds.js';

/** Most models one worker may announce. */
export const MAX_WORKER_MODELS = 64;
/** Longest model name, provider, device, engine or version string in a hello. */
export const MAX_HELLO_STRING_CHARS = 256;

/** Throws INVALID_ARGUMENT naming the field when the hello is out of bounds. */
export function checkHello(hello: Hello, maxIdChars: number): void {
  if (hello.workerId === '') throw new InvalidArgumentError('hello.worker_id', 'missing: the first message must be Hello with a worker_id');
  checkIdLength('hello.worker_id', hello.workerId, maxIdChars);
  if (hello.models.length > MAX_WORKER_MODELS) throw new InvalidArgumentError('hello.models', `${hello.models.length} models, at most ${MAX_WORKER_MODELS} allowed`);
  if (hello.modelDefaults.length > MAX_WORKER_MODELS) {
    throw new InvalidArgumentError('hello.model_defaults', `${hello.modelDefaults.length} entries, at most ${MAX_WORKER_MODELS} allowed`);
  }
  const strings: [string, string][] = [
    ...hello.models.map((m, i): [string, string] => [`hello.models[${i}]`, m]),
    ...hello.modelDefaults.map((d, i): [string, string] => [`hello.model_defaults[${i}].name`, d.name]),
    ['hello.provider', hello.provider], ['hello.device', hello.device], ['hello.engine', hello.engine], ['hello.version', hello.version],
  ];
  for (const [field, value] of strings) checkIdLength(field, value, MAX_HELLO_STRING_CHARS);
}

/**
 * Most tasks a worker may hold plus be owed (its credit): its batch plus one
 * batch leased ahead (the worker's default --prefetch), never more than the
 * farm's cap. A grant beyond it is clamped, not refused: a worker with a
 * larger --prefetch still works, it is just leased less far ahead.
 */
export function creditCap(hello: Hello, farmCap: number): number {
  return Math.min(farmCap, 2 * Math.max(1, hello.maxBatch));
}
