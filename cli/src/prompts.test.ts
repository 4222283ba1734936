import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@latentfarm/common';
import { Scheduler } from '@latentfarm/proto';
import { parsePromptText } from './prompts.js';

describe('prompt files', () => {
  it('reads one prompt per line, skipping blanks and comments', () => {
    const e = parsePromptText('a red circle\n\n# note\n  a blue square  \n', 'p.txt');
    expect(e.map((x) => x.prompt)).toEqual(['a red circle', 'a blue square']);
  });

  it('reads JSONL with per-entry overrides', () => {
    const e = parsePromptText('{"prompt":"a","images":3,"seed":7,"width":64,"scheduler":"euler_ancestral","cfg_scale":4}\n', 'p.jsonl');
    expect(e[0]).toMatchObject({ prompt: 'a', images: 3, seed: 7, overrides: { width: 64, scheduler: Scheduler.EULER_ANCESTRAL, cfgScale: 4 } });
  });

  it('names the line of a malformed JSONL entry', () => {
    const bad = '{"prompt":"ok"}\n{"prompt": oops}\n';
    expect(() => parsePromptText(bad, 'p.jsonl')).toThrow(InvalidArgumentError);
    expect(() => parsePromptText(bad, 'p.jsonl')).toThrow(/p\.jsonl:2: not valid JSON/);
    expect(() => parsePromptText('{"prompt":"x","colour":1}', 'p.jsonl')).toThrow(/p\.jsonl:1: unknown key "colour"/);
    expect(() => parsePromptText('{"prompt":"x","scheduler":"heun"}', 'p.jsonl')).toThrow(/unknown scheduler "heun"/);
  });
});
