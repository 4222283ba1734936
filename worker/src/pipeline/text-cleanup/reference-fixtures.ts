// Test support: the fixtures models/shapes-ldm/recipe/tokenizer_reference.py
// writes by running the reference (ftfy 6.3.1, Python's html and re, the
// `regex` module) on each case.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MODEL_URL = new URL('../../../../models/shapes-ldm/', import.meta.url);
export const MODEL_DIR = fileURLToPath(MODEL_URL);

export interface ReferenceCase {
  readonly class: string;
  readonly prompt: string;
  readonly cleaned: string;
  readonly input_ids: readonly number[];
}

export interface ReferenceFixtures {
  readonly ftfy_version: string;
  readonly bos_id: number;
  readonly eos_id: number;
  readonly pad_id: number;
  readonly model_max_length: number;
  readonly fixtures: readonly ReferenceCase[];
  readonly tables: {
    readonly unicode_version: string;
    readonly python_whitespace: readonly number[];
    /** Code point runs [first, last] that CLIP's pattern reads as letters, numbers, whitespace. */
    readonly pretoken_classes: Readonly<Record<'L' | 'N' | 'S', readonly (readonly [number, number])[]>>;
    /** Code point runs assigned in Python's Unicode version. */
    readonly assigned: readonly (readonly [number, number])[];
    /** Code point → str.lower(), where it differs. */
    readonly lower: Readonly<Record<string, string>>;
    /** Code page → its characters for bytes 0x80-0xFF, then for 0x1A. */
    readonly codepages: Readonly<Record<string, string>>;
    readonly html_entity_names: readonly string[];
    /** html.unescape("&" + name + "x") for every name, and "&NAME;" where it changes. */
    readonly html_unescape: Readonly<Record<string, string>>;
    /** ftfy's unescape_html on "&NAME;" for every name and on the extras, where it changes. */
    readonly ftfy_unescape_html: Readonly<Record<string, string>>;
    readonly ftfy_unescape_extra: readonly string[];
    readonly fix_text: readonly (readonly [string, string])[];
    readonly is_bad: readonly (readonly [string, boolean])[];
  };
}

export function loadReferenceFixtures(): ReferenceFixtures {
  const file = new URL('recipe/tokenizer_reference_fixtures.json', MODEL_URL);
  return JSON.parse(readFileSync(file, 'utf8')) as ReferenceFixtures;
}

/** Every code point in the runs. */
export function* codePoints(runs: readonly (readonly [number, number])[]): Generator<number> {
  for (const [first, last] of runs) for (let cp = first; cp <= last; cp++) yield cp;
}
