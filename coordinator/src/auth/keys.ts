// API keys: made, parsed and checked here only. A key reads
// `lf_<key id>_<secret>`: the prefix makes a leaked key easy to recognise
// (secret scanners, logs), the key id (not secret) finds its record without a
// scan and names the key in logs and audit lines, and the secret is 32 bytes
// from crypto.randomBytes. The store keeps only the secret's SHA-256.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const KEY_PREFIX = 'lf_';
const KEY_ID_BYTES = 8;
const SECRET_BYTES = 32;
/** `lf_` + 16 hex + `_` + 43 base64url characters (256 bits). */
const KEY_PATTERN = /^lf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface ParsedKey {
  readonly keyId: string;
  readonly secret: string;
}

export interface NewKey extends ParsedKey {
  /** The whole key, shown to its owner once and never stored. */
  readonly key: string;
  /** What the store keeps. */
  readonly hash: string;
}

export function generateKey(): NewKey {
  const keyId = randomBytes(KEY_ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { keyId, secret, key: `${KEY_PREFIX}${keyId}_${secret}`, hash: hashSecret(secret) };
}

/** A fresh key alone, e.g. for --admin-key-file: stored nowhere until a coordinator starts with it. */
export const generateApiKey = (): string => generateKey().key;

/** The parts of a well-formed key, or undefined (a malformed key is refused like an unknown one). */
export function parseKey(key: string): ParsedKey | undefined {
  const m = KEY_PATTERN.exec(key.trim());
  return m === null ? undefined : { keyId: m[1] as string, secret: m[2] as string };
}

/**
 * A plain SHA-256 is enough here, unlike for passwords: the secret is 256
 * random bits, so neither a dictionary nor brute force can invert the hash,
 * and a slow KDF (scrypt, bcrypt) would only add its cost to every call.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Compares in constant time, so response timing reveals nothing about how much of a guess matched. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
