// CLIP's byte-level BPE tokenizer, read from the Hugging Face `tokenizer/`
// folder of a Stable Diffusion export (vocab.json, merges.txt, and optionally
// tokenizer_config.json / special_tokens_map.json for the pad token and
// model_max_length).
//
// It reproduces OpenAI CLIP's reference tokenizer, which the text encoders
// were trained with: its text cleanup (ftfy's fix_text, HTML unescaping,
// whitespace, lowercase: see text-cleanup/clip-cleanup.ts), then CLIP's
// pre-tokenising regex, byte→unicode mapping and BPE by merge rank, laid out
// as transformers' CLIPTokenizer pads and truncates for the SD pipelines.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LatentfarmError } from '@latentfarm/common';
import { clipCleanup } from './text-cleanup/clip-cleanup.js';

const START_OF_TEXT = '<|startoftext|>';
const END_OF_TEXT = '<|endoftext|>';
/** CLIP's context length; transformers' default when the config gives none. */
const DEFAULT_MAX_LENGTH = 77;
/** CLIP only uses the first 49152 - 256 - 2 merges, whatever the file holds (as transformers slices it). */
const MAX_MERGES = 49152 - 256 - 2;
/** Bounds memory on a worker that sees millions of distinct words. */
const MAX_CACHE_ENTRIES = 50_000;

// CLIP's pattern, which the reference compiles with Python's `regex` module
// and IGNORECASE, on text that is already lower-case. Where JavaScript would
// differ it is spelled out: case-insensitive "s" also takes "ſ" (U+017F);
// U+0345 (a combining mark whose case variants are letters) is neither a
// letter nor "other" under IGNORECASE, so `regex` drops it like whitespace;
// and `regex`'s \s is Unicode's White_Space, where JavaScript's \s also takes
// U+FEFF and leaves U+0085 out. The tests hold the split to `regex` for every
// code point of Unicode 14.
const REGEX_WHITESPACE = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const NEITHER_UNDER_IGNORECASE = '\\u0345';
const PRE_TOKEN = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${REGEX_WHITESPACE}${NEITHER_UNDER_IGNORECASE}\\p{L}\\p{N}]+`,
  'gu',
);

/** CLIP's pre-tokens of already cleaned text, before byte encoding and BPE. */
export function splitPreTokens(cleaned: string): string[] {
  return Array.from(cleaned.matchAll(PRE_TOKEN), (match) => match[0]);
}

/** A tokenizer file is missing or malformed; the message names the file. */
export class TokenizerFileError extends LatentfarmError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options);
  }
}

/** What a tokenizer is built from; `load` reads it from files. */
export interface ClipTokenizerData {
  /** token string → id, as in vocab.json */
  readonly vocab: ReadonlyMap<string, number>;
  /** merge pairs in rank order, as in merges.txt without its `#version` line */
  readonly merges: readonly (readonly [string, string])[];
  readonly maxLength?: number;
  readonly padToken?: string;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly unkToken?: string;
}

export class ClipTokenizer {
  /** Length of every encoded prompt (77 for CLIP). */
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly vocabSize: number;

  private readonly vocab: ReadonlyMap<string, number>;
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();

  constructor(data: ClipTokenizerData, source = 'tokenizer') {
    this.vocab = data.vocab;
    this.vocabSize = data.vocab.size;
    this.maxLength = data.maxLength ?? DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(this.maxLength) || this.maxLength < 2) {
      throw new TokenizerFileError(source, `model_max_length must be an integer >= 2, got ${this.maxLength}`);
    }
    const idOf = (what: string, token: string): number => {
      const id = data.vocab.get(token);
      if (id === undefined) throw new TokenizerFileError(source, `${what} ${JSON.stringify(token)} is not in vocab.json`);
      return id;
    };
    this.bosId = idOf('bos_token', data.bosToken ?? START_OF_TEXT);
    this.eosId = idOf('eos_token', data.eosToken ?? END_OF_TEXT);
    this.padId = idOf('pad_token', data.padToken ?? END_OF_TEXT);
    this.unkId = idOf('unk_token', data.unkToken ?? END_OF_TEXT);
    data.merges.slice(0, MAX_MERGES).forEach(([a, b], rank) => {
      const key = pairKey(a, b);
      // The first (lowest) rank wins if a file repeats a pair.
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
  }

  /** Reads a Hugging Face CLIP tokenizer folder. */
  static async load(dir: string): Promise<ClipTokenizer> {
    const vocabFile = join(dir, 'vocab.json');
    const mergesFile = join(dir, 'merges.txt');
    const vocab = parseVocab(vocabFile, await readRequired(vocabFile));
    const merges = parseMerges(mergesFile, await readRequired(mergesFile));

    // transformers lets special_tokens_map.json override tokenizer_config.json.
    const configFile = join(dir, 'tokenizer_config.json');
    const mapFile = join(dir, 'special_tokens_map.json');
    const config = await readOptionalJson(configFile);
    const specials = await readOptionalJson(mapFile);
    const token = (key: string): string | undefined =>
      tokenValue(mapFile, specials, key) ?? tokenValue(configFile, config, key);

    const maxLength = readMaxLength(configFile, config);
    return new ClipTokenizer(
      {
        vocab,
        merges,
        ...optional('maxLength', maxLength),
        ...optional('padToken', token('pad_token')),
        ...optional('bosToken', token('bos_token')),
        ...optional('eosToken', token('eos_token')),
        ...optional('unkToken', token('unk_token')),
      },
      dir,
    );
  }

  /**
   * Encodes a prompt the way Stable Diffusion pipelines call the tokenizer
   * (padding="max_length", truncation=True): BOS, at most maxLength - 2
   * tokens, EOS, then pad ids up to maxLength.
   */
  encode(text: string): Int32Array {
    const ids = new Int32Array(this.maxLength).fill(this.padId);
    const tokens = this.tokenize(text);
    const kept = Math.min(tokens.length, this.maxLength - 2);
    ids[0] = this.bosId;
    for (let i = 0; i < kept; i++) ids[i + 1] = tokens[i] ?? this.unkId;
    ids[kept + 1] = this.eosId;
    return ids;
  }

  /** Token ids of a prompt without BOS/EOS, padding or truncation. */
  tokenize(text: string): number[] {
    const out: number[] = [];
    for (const piece of splitPreTokens(clipCleanup(text))) {
      for (const id of this.bpeIds(piece)) out.push(id);
    }
    return out;
  }

  private bpeIds(preToken: string): readonly number[] {
    const cached = this.cache.get(preToken);
    if (cached !== undefined) return cached;
    let ids: readonly number[];
    if (preToken === START_OF_TEXT || preToken === END_OF_TEXT) {
      // CLIP keeps the special tokens whole instead of byte-encoding them.
      ids = [this.vocab.get(preToken) ?? this.unkId];
    } else {
      ids = this.bpe(byteEncode(preToken)).map((symbol) => this.vocab.get(symbol) ?? this.unkId);
    }
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
    this.cache.set(preToken, ids);
    return ids;
  }

  /** CLIP's BPE: repeatedly merge the lowest-ranked adjacent pair; the last symbol carries `</w>`. */
  private bpe(word: string): string[] {
    const chars = Array.from(word);
    let symbols = [...chars.slice(0, -1), `${chars.at(-1) ?? ''}</w>`];
    while (symbols.length > 1) {
      let best: string | undefined;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(pairKey(symbols[i] ?? '', symbols[i + 1] ?? ''));
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = pairKey(symbols[i] ?? '', symbols[i + 1] ?? '');
        }
      }
      if (best === undefined) break;
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        const a = symbols[i] ?? '';
        const b = symbols[i + 1];
        if (b !== undefined && pairKey(a, b) === best) {
          merged.push(a + b);
          i++;
        } else {
          merged.push(a);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}

// Merge symbols never contain a space (bytes_to_unicode maps the space byte to "Ġ").
function pairKey(a: string, b: string): string {
  return `${a} ${b}`;
}

/** GPT-2/CLIP's reversible map from the 256 byte values to printable characters. */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) table.push(String.fromCodePoint(printable(b) ? b : next++));
  return table;
})();

const utf8 = new TextEncoder();

function byteEncode(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) out += BYTE_TO_CHAR[byte] ?? '';
  return out;
}

async function readRequired(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (cause) {
    throw new TokenizerFileError(file, 'cannot read the file (is this a CLIP tokenizer folder?)', { cause });
  }
}

async function readOptionalJson(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerFileError(file, 'cannot read the file', { cause });
  }
  const value = parseJson(file, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerFileError(file, 'expected a JSON object');
  }
  return value as Record<string, unknown>;
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new TokenizerFileError(file, 'invalid JSON', { cause });
  }
}

function parseVocab(file: string, text: string): Map<string, number> {
  const value = parseJson(file, text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerFileError(file, 'expected a JSON object mapping token strings to ids');
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(value)) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new TokenizerFileError(file, `id of token ${JSON.stringify(token)} must be a non-negative integer`);
    }
    vocab.set(token, id as number);
  }
  if (vocab.size === 0) throw new TokenizerFileError(file, 'the vocabulary is empty');
  return vocab;
}

function parseMerges(file: string, text: string): [string, string][] {
  const lines = text.replace(/\r\n/g, '\n').trim().split('\n');
  // transformers drops the first line unconditionally; it is the `#version` header.
  const start = lines[0]?.startsWith('#') === true ? 1 : 0;
  const merges: [string, string][] = [];
  for (let i = start; i < lines.length; i++) {
    const parts = (lines[i] ?? '').trim().split(/\s+/);
    if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined || parts[0] === '') {
      throw new TokenizerFileError(file, `line ${i + 1} is not a merge "A B": ${JSON.stringify(lines[i])}`);
    }
    merges.push([parts[0], parts[1]]);
  }
  return merges;
}

/** A special token is either a string or an AddedToken object `{ "content": ... }`. */
function tokenValue(file: string, json: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = json?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new TokenizerFileError(file, `${key} must be a string or an object with "content"`);
}

function readMaxLength(file: string, config: Record<string, unknown> | undefined): number | undefined {
  const value = config?.['model_max_length'];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2) {
    throw new TokenizerFileError(file, `model_max_length must be an integer >= 2, got ${JSON.stringify(value)}`);
  }
  // transformers writes a huge sentinel (1e30) when no limit was set; CLIP's is 77.
  return value > 1_000_000 ? undefined : value;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
