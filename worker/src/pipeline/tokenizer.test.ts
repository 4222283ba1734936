import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codePoints, loadReferenceFixtures, MODEL_DIR } from './text-cleanup/reference-fixtures.js';
import { ClipTokenizer, TokenizerFileError, splitPreTokens } from './tokenizer.js';

// A tiny CLIP-layout vocabulary: the 256 byte symbols, the same with </w>,
// then one entry per merge, then the two special tokens (as real CLIP's is).
const MERGES: [string, string][] = [
  ['r', 'e'],
  ['re', 'd</w>'],
  ['c', 'i'],
  ['ci', 'r'],
  ['cir', 'c'],
  ['l', 'e</w>'],
  ['circ', 'le</w>'],
  ['Ã', '©</w>'], // "é" is the UTF-8 bytes C3 A9, byte-encoded as "Ã©"
  ['c', 'a'],
  ['ca', 'f'],
  ['caf', 'Ã©</w>'],
];

// In bytes_to_unicode's order, as CLIP's vocab.json lists them: printable bytes
// first (so "!" is id 0), then the others mapped to U+0100 onwards.
function byteSymbols(): string[] {
  const printable = (b: number): boolean =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const bytes = Array.from({ length: 256 }, (_, b) => b);
  let next = 256;
  const others = bytes.filter((b) => !printable(b)).map(() => String.fromCodePoint(next++));
  return [...bytes.filter(printable).map((b) => String.fromCodePoint(b)), ...others];
}

function tinyVocab(): Record<string, number> {
  const symbols = byteSymbols();
  const entries = [...symbols, ...symbols.map((s) => `${s}</w>`), ...MERGES.map(([a, b]) => a + b)];
  entries.push('<|startoftext|>', '<|endoftext|>');
  return Object.fromEntries(entries.map((token, id) => [token, id]));
}

const VOCAB = tinyVocab();
const id = (token: string): number => {
  const value = VOCAB[token];
  if (value === undefined) throw new Error(`test vocab lacks ${token}`);
  return value;
};
const BOS = id('<|startoftext|>');
const EOS = id('<|endoftext|>');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tokenizerDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'clip-tokenizer-'));
  dirs.push(dir);
  const all: Record<string, string> = {
    'vocab.json': JSON.stringify(VOCAB),
    'merges.txt': `#version: 0.2\n${MERGES.map(([a, b]) => `${a} ${b}`).join('\n')}\n`,
    ...files,
  };
  for (const [name, text] of Object.entries(all)) {
    if (text !== '') await writeFile(join(dir, name), text);
  }
  return dir;
}

/** The non-padding part of an encoding. */
function head(ids: Int32Array, pad: number): number[] {
  const out = Array.from(ids);
  while (out.length > 0 && out.at(-1) === pad) out.pop();
  return out;
}

describe('ClipTokenizer', () => {
  it('encodes words by merge rank, with </w> on each word end', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    expect(tok.maxLength).toBe(77);
    expect(tok.vocabSize).toBe(512 + MERGES.length + 2);
    const ids = tok.encode('red circle');
    expect(ids).toBeInstanceOf(Int32Array);
    expect(ids.length).toBe(77);
    expect(head(ids, EOS)).toEqual([BOS, id('red</w>'), id('circle</w>')]);
    expect(ids[3]).toBe(EOS);
    expect(ids[76]).toBe(EOS); // SD 1.5's layout pads with <|endoftext|>
    // A word with no applicable merge stays one symbol per byte.
    expect(tok.tokenize('box')).toEqual([id('b'), id('o'), id('x</w>')]);
    // Only ranked pairs merge: "rex" gets r+e but nothing joins "re" and "x</w>".
    expect(tok.tokenize('rex')).toEqual([id('re'), id('x</w>')]);
  });

  it('lowercases, collapses whitespace and splits punctuation, digits and contractions', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    expect(tok.tokenize('  RED \t\n CIRCLE  ')).toEqual([id('red</w>'), id('circle</w>')]);
    // Runs of punctuation are one pre-token; each digit is its own pre-token.
    expect(tok.tokenize('red!!, 42')).toEqual([id('red</w>'), id('!'), id('!'), id(',</w>'), id('4</w>'), id('2</w>')]);
    // "'s" is split off as CLIP's regex does.
    expect(tok.tokenize("red's")).toEqual([id('red</w>'), id("'"), id('s</w>')]);
  });

  it('byte-encodes unicode letters and maps them through the merges', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    expect(tok.tokenize('Café')).toEqual([id('cafÃ©</w>')]);
    // NFD input is normalised to NFC first (ftfy's last step).
    expect(tok.tokenize('Cafe\u0301')).toEqual([id('cafÃ©</w>')]);
    // Two-byte letters with no merges: one symbol per UTF-8 byte ("ж" = D0 B6).
    expect(tok.tokenize('ж')).toEqual([id('Ð'), id('¶</w>')]);
  });

  it('keeps the special tokens whole when they appear in the text', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    expect(tok.tokenize('<|startoftext|>red<|endoftext|>')).toEqual([BOS, id('red</w>'), EOS]);
  });

  it('encodes the empty string as BOS, EOS and padding', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    const ids = tok.encode('');
    expect(ids[0]).toBe(BOS);
    expect(Array.from(ids.subarray(1))).toEqual(new Array<number>(76).fill(EOS));
    expect(tok.encode('   \n ')).toEqual(ids);
  });

  it('truncates long prompts to model_max_length and keeps EOS last', async () => {
    const tok = await ClipTokenizer.load(await tokenizerDir({}));
    const ids = tok.encode(Array.from({ length: 100 }, () => 'red').join(' '));
    expect(ids.length).toBe(77);
    expect(ids[0]).toBe(BOS);
    expect(Array.from(ids.subarray(1, 76))).toEqual(new Array<number>(75).fill(id('red</w>')));
    expect(ids[76]).toBe(EOS);
  });

  it('reads the pad token and length from tokenizer_config.json, with special_tokens_map.json winning', async () => {
    // SD 2.x pads with "!" (id 0).
    const sd2 = await ClipTokenizer.load(
      await tokenizerDir({
        'tokenizer_config.json': JSON.stringify({
          model_max_length: 8,
          pad_token: { content: '!', __type: 'AddedToken', lstrip: false },
        }),
      }),
    );
    expect(sd2.padId).toBe(0);
    expect(Array.from(sd2.encode('red'))).toEqual([BOS, id('red</w>'), EOS, 0, 0, 0, 0, 0]);

    const mapWins = await ClipTokenizer.load(
      await tokenizerDir({
        'tokenizer_config.json': JSON.stringify({ model_max_length: 5, pad_token: '<|endoftext|>' }),
        'special_tokens_map.json': JSON.stringify({ pad_token: '!' }),
      }),
    );
    expect(Array.from(mapWins.encode('red circle red'))).toEqual([BOS, id('red</w>'), id('circle</w>'), id('red</w>'), EOS]);
    expect(Array.from(mapWins.encode(''))).toEqual([BOS, EOS, 0, 0, 0]);

    // transformers' "no limit" sentinel falls back to CLIP's 77.
    const sentinel = await ClipTokenizer.load(
      await tokenizerDir({ 'tokenizer_config.json': JSON.stringify({ model_max_length: 1e30 }) }),
    );
    expect(sentinel.maxLength).toBe(77);
  });

  it('names the file when one is missing or invalid', async () => {
    const noVocab = await tokenizerDir({ 'vocab.json': '' });
    await expect(ClipTokenizer.load(noVocab)).rejects.toThrow(TokenizerFileError);
    await expect(ClipTokenizer.load(noVocab)).rejects.toThrow(/vocab\.json: cannot read/);

    const badMerges = await tokenizerDir({ 'merges.txt': '#version: 0.2\nr e\nnot-a-pair\n' });
    await expect(ClipTokenizer.load(badMerges)).rejects.toThrow(/merges\.txt: line 3/);

    const badJson = await tokenizerDir({ 'tokenizer_config.json': '{ nope' });
    await expect(ClipTokenizer.load(badJson)).rejects.toThrow(/tokenizer_config\.json: invalid JSON/);

    const unknownPad = await tokenizerDir({ 'special_tokens_map.json': JSON.stringify({ pad_token: '<pad>' }) });
    await expect(ClipTokenizer.load(unknownPad)).rejects.toThrow(/pad_token "<pad>" is not in vocab\.json/);
  });

});

describe('ClipTokenizer against the reference CLIP tokenizer (ftfy + html.unescape + regex)', () => {
  const ref = loadReferenceFixtures();

  it.each(ref.fixtures.map((f) => [f.class, f.prompt, f.input_ids] as const))(
    '%s: %j',
    async (_class, prompt, ids) => {
      const tok = await bundled();
      expect(Array.from(tok.encode(prompt))).toEqual(ids);
    },
  );

  it('has the special ids and length the fixtures were made with', async () => {
    const tok = await bundled();
    expect([tok.bosId, tok.eosId, tok.padId, tok.maxLength]).toEqual([ref.bos_id, ref.eos_id, ref.pad_id, ref.model_max_length]);
  });

  it('splits every code point of Unicode 14 as CLIP\'s regex pattern does (letter, number, other, whitespace)', () => {
    const { pretoken_classes: classes, assigned } = ref.tables;
    const expected = new Map<number, string>();
    for (const k of ['L', 'N', 'S'] as const) for (const cp of codePoints(classes[k])) expected.set(cp, k);
    const wrong: string[] = [];
    for (const cp of codePoints(assigned)) {
      const ch = String.fromCodePoint(cp);
      // A letter joins the letter after it; punctuation joins the "!" after it;
      // a number joins neither; whitespace is dropped.
      const kind =
        splitPreTokens(ch).length === 0 ? 'S' : splitPreTokens(`${ch}a`).length === 1 ? 'L' : splitPreTokens(`${ch}!`).length === 1 ? 'P' : 'N';
      if (kind !== (expected.get(cp) ?? 'P')) wrong.push(`${cp.toString(16)}:${kind}`);
    }
    expect(wrong).toEqual([]);
    // Contractions: the reference matches "'s" case-insensitively, which takes the long s.
    expect(splitPreTokens("it's it'ſ")).toEqual(['it', "'s", 'it', "'ſ"]);
  });
});

let bundledTokenizer: Promise<ClipTokenizer> | undefined;
function bundled(): Promise<ClipTokenizer> {
  bundledTokenizer ??= ClipTokenizer.load(join(MODEL_DIR, 'tokenizer'));
  return bundledTokenizer;
}
