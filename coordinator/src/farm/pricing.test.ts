// --prices: model=factor items, and one clear line for a malformed one.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@latentfarm/common';
import { compileCoordinatorConfig, defaultCoordinatorConfig } from '../config.js';
import { parsePrices } from './pricing.js';

describe('--prices', () => {
  it('reads model=factor items (a model name may hold "=")', () => {
    expect(parsePrices(['sdxl=2.5', 'sd15=1', 'odd=name=0.5'])).toEqual(new Map([['sdxl', 2.5], ['sd15', 1], ['odd=name', 0.5]]));
    expect(parsePrices([])).toEqual(new Map());
  });

  it('refuses a malformed item at start, naming it', () => {
    for (const bad of ['sdxl', '=2', 'sdxl=', 'sdxl=0', 'sdxl=-1', 'sdxl=abc', 'sdxl=Infinity']) {
      expect(() => parsePrices([bad]), bad).toThrow(ConfigError);
      expect(() => compileCoordinatorConfig(defaultCoordinatorConfig({ prices: [bad] })), bad).toThrow(`--prices: "${bad}" is not model=factor`);
    }
  });
});
