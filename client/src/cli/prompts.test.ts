import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@latentfarm/common';
import { MAX_SEED, SCHEDULERS, Scheduler, schedulerNameList } from '@latentfarm/proto';
import { parsePromptText, parseScheduler } from './prompts.js';

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

  it('spells schedulers as the farm\'s scheduler table does, in any case', () => {
    for (const row of SCHEDULERS) {
      expect(parseScheduler(row.name, '--scheduler')).toBe(row.proto);
      expect(parseScheduler(row.name.toUpperCase(), '--scheduler')).toBe(row.proto);
    }
    for (const name of ['unspecified', 'unrecognized', 'no_such_scheduler', '']) {
      expect(() => parseScheduler(name, '--scheduler')).toThrow(`--scheduler: unknown scheduler "${name}": use ${schedulerNameList()}`);
    }
  });

  it('takes JSONL seeds from 0 to 2^32-1 and names the line of one beyond', () => {
    expect(parsePromptText(`{"prompt":"a","seed":0}\n{"prompt":"b","seed":${MAX_SEED}}`, 'p.jsonl').map((e) => e.seed)).toEqual([0, MAX_SEED]);
    expect(() => parsePromptText(`{"prompt":"a"}\n{"prompt":"b","seed":${MAX_SEED + 1}}`, 'p.jsonl')).toThrow(/p\.jsonl:2: seed: 4294967296 is not an integer from 0 to 4294967295/);
    expect(() => parsePromptText('{"prompt":"a","seed":-1}', 'p.jsonl')).toThrow(/p\.jsonl:1: seed: -1 is not an integer/);
  });
});
