import { describe, expect, it } from 'vitest';
import { histogramCount, histogramQuantile, parse, since } from './prom-text.js';

const scrapeText = (fast: number, slow: number) => [
  '# TYPE wait_seconds histogram',
  `wait_seconds_bucket{model="a",le="1"} ${fast}`,
  `wait_seconds_bucket{model="a",le="10"} ${fast + slow}`,
  `wait_seconds_bucket{model="a",le="+Inf"} ${fast + slow}`,
  `wait_seconds_count{model="a"} ${fast + slow}`,
].join('\n');

describe('since', () => {
  it('keeps only what a histogram gained between two scrapes', () => {
    // A warm-up of 100 fast observations, then 10 slow ones measured.
    const gained = since(parse(scrapeText(100, 10)), parse(scrapeText(100, 0)));
    expect(histogramCount(gained, 'wait_seconds')).toBe(10);
    expect(histogramQuantile(gained, 'wait_seconds', 0.5)).toBeGreaterThan(1);
    // Without the subtraction the warm-up's observations set the median.
    expect(histogramQuantile(parse(scrapeText(100, 10)), 'wait_seconds', 0.5)).toBeLessThanOrEqual(1);
  });

  it('keeps series the first scrape did not have', () => {
    expect(histogramCount(since(parse(scrapeText(3, 4)), []), 'wait_seconds')).toBe(7);
  });
});
