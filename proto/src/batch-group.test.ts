import { describe, expect, it } from 'vitest';
import { batchGroupKey } from './batch-group.js';

describe('batchGroupKey', () => {
  it('groups by model and size', () => {
    expect(batchGroupKey('sd', { width: 64, height: 64 })).toBe(batchGroupKey('sd', { width: 64, height: 64 }));
    expect(batchGroupKey('sd', { width: 64, height: 128 })).not.toBe(batchGroupKey('sd', { width: 128, height: 64 }));
    expect(batchGroupKey('sd', { width: 64, height: 64 })).not.toBe(batchGroupKey('sd2', { width: 64, height: 64 }));
  });
});
