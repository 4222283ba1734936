import { describe, expect, it } from 'vitest';
import { LOCAL_ADMIN } from '../farm/principal.js';
import { cookieValue, Sessions } from './sessions.js';

describe('console sessions', () => {
  it('expire after their time, and each log-in gets its own unguessable token', () => {
    let now = 1_000_000;
    const s = new Sessions(60_000, () => now);
    const a = s.open(LOCAL_ADMIN);
    const b = s.open(LOCAL_ADMIN);
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.maxAgeS).toBe(60);
    now += 59_999;
    expect(s.principal(a.token)).toBe(LOCAL_ADMIN);
    now += 1;
    expect(s.principal(a.token)).toBeUndefined();
    expect(s.principal('made-up')).toBeUndefined();
    expect(s.principal(undefined)).toBeUndefined();
  });

  it('end at once on log-out', () => {
    const s = new Sessions(60_000);
    const { token } = s.open(LOCAL_ADMIN);
    s.close(token);
    expect(s.principal(token)).toBeUndefined();
  });

  it('read the session cookie among others', () => {
    expect(cookieValue('a=1; latentfarm_session=xyz; b=2', 'latentfarm_session')).toBe('xyz');
    expect(cookieValue('a=1', 'latentfarm_session')).toBeUndefined();
    expect(cookieValue(undefined, 'latentfarm_session')).toBeUndefined();
  });
});
