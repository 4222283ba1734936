import { describe, expect, it } from 'vitest';
import { flagOnly, formatHelp, opt, parseOptions } from './config.js';

describe('flag-only options', () => {
  const specs = { maxQueuedImages: flagOnly(opt.int('quota', -1, { min: -1 })), maxLabels: opt.int('labels', 64) };

  it('are set by their flag and never by the LATENTFARM_* variable of the same name, which other options still read', () => {
    const env = { LATENTFARM_MAX_QUEUED_IMAGES: '5', LATENTFARM_MAX_LABELS: '7' };
    expect(parseOptions(specs, [], env).values).toEqual({ maxQueuedImages: -1, maxLabels: 7 });
    expect(parseOptions(specs, ['--max-queued-images', '9'], env).values.maxQueuedImages).toBe(9);
  });

  it('name no variable in --help', () => {
    const help = formatHelp('Usage: x', specs);
    expect(help).not.toContain('LATENTFARM_MAX_QUEUED_IMAGES');
    expect(help).toContain('LATENTFARM_MAX_LABELS');
  });
});
