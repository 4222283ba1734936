// Durations and sizes as flags take them (--retain-for 30d, --retain-bytes 20GB).
import { describe, expect, it } from 'vitest';
import { opt } from './config.js';
import { parseDuration } from './time.js';

describe('durations and sizes in flags', () => {
  it('reads durations in ms, s, m, h and d, and 0', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    for (const bad of ['', '5', '-1d', '2 weeks', '1e3s', 'd']) expect(parseDuration(bad)).toBeUndefined();
    expect(() => opt.duration('', 0).parse('soon', '--retain-for')).toThrow(/^--retain-for: "soon" is not a duration/);
  });

  it('reads sizes in decimal and binary units, and plain bytes', () => {
    const size = (raw: string) => opt.bytes('', 0).parse(raw, '--retain-bytes');
    expect(size('0')).toBe(0);
    expect(size('1234')).toBe(1234);
    expect(size('500MB')).toBe(500_000_000);
    expect(size('20gb')).toBe(20_000_000_000);
    expect(size('1KiB')).toBe(1024);
    expect(size('1.5 GiB')).toBe(1.5 * 1024 ** 3);
    for (const bad of ['', 'lots', '-1GB', '5PB', '1e9']) expect(() => size(bad)).toThrow(/^--retain-bytes: ".*" is not a size/);
  });
});
