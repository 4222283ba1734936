// Ids no other publish ever uses (message ids for JetStream's duplicate window,
// object-store chunk subjects): a random per-process prefix and a counter.
// Drawing random bytes for each id cost a twentieth of the coordinator's CPU.
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(12).toString('hex');
let next = 0;

/** A new id, unique across processes and restarts (only [0-9a-z]). */
export function uniqueId(): string {
  return `${prefix}${(next++).toString(36)}`;
}
