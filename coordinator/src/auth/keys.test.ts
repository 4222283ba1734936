import { describe, expect, it } from 'vitest';
import { KEY_PREFIX, generateKey, hashSecret, parseKey, secretMatches } from './keys.js';

describe('API keys', () => {
  it('are lf_, a 16-hex key id and 256 random bits, different every time, and parse back to their parts', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.key.startsWith(KEY_PREFIX)).toBe(true);
    expect(a.key).toMatch(/^lf_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.secret, 'base64url')).toHaveLength(32);
    expect(a.key).not.toBe(b.key);
    expect(a.keyId).not.toBe(b.keyId);
    expect(parseKey(a.key)).toEqual({ keyId: a.keyId, secret: a.secret });
    expect(a.hash).toBe(hashSecret(a.secret));
    expect(a.hash).not.toContain(a.secret);
  });

  it('refuses anything that is not a whole key', () => {
    const { key } = generateKey();
    for (const bad of ['', 'lf_', key.slice(0, -1), `${key}x`, key.replace('lf_', 'lx_'), key.toUpperCase(), `Bearer ${key}`]) {
      expect(parseKey(bad), bad).toBeUndefined();
    }
  });

  it('matches only the secret whose hash is stored', () => {
    const a = generateKey();
    const b = generateKey();
    expect(secretMatches(a.secret, a.hash)).toBe(true);
    expect(secretMatches(b.secret, a.hash)).toBe(false);
    expect(secretMatches(a.secret, 'not hex')).toBe(false);
  });
});
