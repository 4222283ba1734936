// ftfy 6.3.1's fix_encoding: undo mojibake, text that was UTF-8 but got
// decoded with a single-byte code page ("cafÃ©" for "café").
//
// Only text the badness heuristic flags is touched. Then, for each code page
// in ftfy's order that can represent the text, the text is encoded back to
// those bytes and decoded as UTF-8; the first that decodes wins. This repeats
// until nothing changes, so mojibake of mojibake comes undone level by level.
// Along the way ftfy also puts back a NBSP (0xA0) that a program turned into a
// plain space, reads bytes a decoder replaced with U+FFFD as one U+FFFD,
// fixes mojibake embedded in otherwise good text, and maps stray C1 controls
// to what Windows-1252 has there.

import { isBad } from './badness.js';
import { CHARMAPS, CLUE_CHARMAPS, charmapByName, decodeByte, encodeText } from './charmaps.js';
import type { Charmap } from './charmaps.js';
import { decodeUtf8 } from './utf8.js';

// The byte patterns below run on "binary strings": one char U+0000-U+00FF per byte.

// UTF-8 sequences that would be whole if one of their bytes were 0xA0 instead
// of a space; only lead bytes whose resulting characters are likely are taken.
const ALTERED_UTF8_SOURCE =
  '[\\xc2\\xc3\\xc5\\xce\\xd0\\xd9] ' +
  '|[\\xe2\\xe3] [\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf]' +
  '|[\\xe0-\\xe3][\\x80-\\x84\\x86-\\x9f\\xa1-\\xbf] ' +
  '|\\xf0 [\\x80-\\xbf][\\x80-\\xbf]' +
  '|\\xf0[\\x80-\\xbf] [\\x80-\\xbf]' +
  '|\\xf0[\\x80-\\xbf][\\x80-\\xbf] ';
const ALTERED_UTF8 = new RegExp(ALTERED_UTF8_SOURCE);
const ALTERED_UTF8_ALL = new RegExp(ALTERED_UTF8_SOURCE, 'g');

// "Ã " standing alone is usually "à" followed by a space that swallowed the
// 0xA0 ("Ã la mode"): keep the space. Not before Portuguese "às", "àquele"...
const A_GRAVE_WORD = /\xc3 (?! |quele|quela|quilo|s )/g;

// UTF-8 sequences with a byte lost to U+FFFD (0x1A in the sloppy code pages)
// or, once per sequence, to "?"; each becomes one U+FFFD.
const LOSSY_UTF8 = new RegExp(
  '[\\xc2-\\xdf]\\x1a' +
    '|[\\xc2-\\xc3]\\?' +
    '|\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]' +
    '|\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]' +
    '|[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]' +
    '|[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]' +
    '|[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]' +
    '|[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]' +
    '|[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]' +
    '|\\x1a',
  'g',
);
const UTF8_REPLACEMENT_CHARACTER = '\xef\xbf\xbd';

const C1_CONTROL = /[\x80-\x9f]/;
const C1_CONTROLS = /[\x80-\x9f]/g;
const ASCII_ONLY = /^[\x00-\x7f]*$/;

function restoreByteA0(bytes: string): string {
  return bytes.replace(A_GRAVE_WORD, '\xc3\xa0 ').replace(ALTERED_UTF8_ALL, (seq) => seq.replaceAll(' ', '\xa0'));
}

/** UTF-8 that some code page mangled, where it can be read back; else undefined. */
function redecode(map: Charmap, text: string): { fixed?: string; encodable: boolean } {
  let bytes = encodeText(map, text);
  if (bytes === undefined) return { encodable: false };
  // Mac OS Roman is left out: there a space after an en dash would look like this.
  if (map.name !== 'macroman' && ALTERED_UTF8.test(bytes)) bytes = restoreByteA0(bytes);
  if (map.sloppy) bytes = bytes.replace(LOSSY_UTF8, UTF8_REPLACEMENT_CHARACTER);
  const variants = bytes.includes('\xed') || bytes.includes('\xc0');
  const fixed = decodeUtf8(bytes, variants);
  return fixed === undefined ? { encodable: true } : { fixed, encodable: true };
}

// --- the UTF-8 detector: runs of characters that read like UTF-8 bytes ----------

/** Every character the clue code pages put at these bytes. */
function cluesAt(bytes: readonly number[], extra = ''): Set<string> {
  const set = new Set<string>(extra);
  for (const map of CLUE_CHARMAPS) for (const byte of bytes) set.add(decodeByte(map, byte));
  return set;
}

function range(lo: number, hi: number): number[] {
  return Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
}

function classBody(chars: Iterable<string>): string {
  return Array.from(chars, (ch) => `\\u{${(ch.codePointAt(0) ?? 0).toString(16)}}`).join('');
}

// Lead bytes of 2-, 3- and 4-byte sequences (4-byte: only F0 and F3 lead to
// characters in use), and continuation bytes, with a space for a lost 0xA0.
const FIRST_OF_2 = classBody(cluesAt(range(0xc2, 0xdf)));
const FIRST_OF_3 = classBody(cluesAt(range(0xe0, 0xef)));
const FIRST_OF_4 = classBody(cluesAt([0xf0, 0xf3]));
const CONTINUATION = cluesAt(range(0x80, 0xbf), ' ');
// Continuation characters that rarely stand for themselves next to mojibake
// (not dashes, quotes, bullets, ellipses or the space).
const CONTINUATION_STRICT = [...CONTINUATION].filter((ch) => !' \u2013\u2014\u2015\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u2026'.includes(ch));

// Not right after a strict continuation character, so a few characters of a
// long garble are not "fixed" on their own.
const UTF8_DETECTOR_SOURCE =
  `(?<![${classBody(CONTINUATION_STRICT)}])` +
  `(?:[${FIRST_OF_2}][${classBody(CONTINUATION)}]` +
  `|[${FIRST_OF_3}][${classBody(CONTINUATION)}]{2}` +
  `|[${FIRST_OF_4}][${classBody(CONTINUATION)}]{3})+`;
const UTF8_DETECTOR = new RegExp(UTF8_DETECTOR_SOURCE, 'u');
const UTF8_DETECTOR_ALL = new RegExp(UTF8_DETECTOR_SOURCE, 'gu');

/** Fixes mojibake runs inside text that as a whole does not re-decode. */
function decodeInconsistentUtf8(text: string): string {
  return text.replace(UTF8_DETECTOR_ALL, (run) => (run.length < text.length && isBad(run) ? fixEncoding(run) : run));
}

// --- C1 controls -------------------------------------------------------------------

const WINDOWS_1252 = charmapByName('sloppy-windows-1252');
// Bytes Windows-1252 leaves undefined: strict decoding fails on them.
const WINDOWS_1252_UNDEFINED = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

/** Each C1 control as the Windows-1252 character of that byte (as browsers read it). */
export function fixC1Controls(text: string): string {
  return text.replace(C1_CONTROLS, (ch) => decodeByte(WINDOWS_1252, ch.charCodeAt(0)));
}

/** Latin-1 text read as strict Windows-1252, or undefined where a byte is undefined there. */
function latin1AsWindows1252(text: string): string | undefined {
  let out = '';
  for (const ch of text) {
    const byte = ch.codePointAt(0) ?? 0;
    if (WINDOWS_1252_UNDEFINED.has(byte)) return undefined;
    out += decodeByte(WINDOWS_1252, byte);
  }
  return out;
}

// --- one step, and the loop ------------------------------------------------------

function fixEncodingStep(text: string): string {
  if (text.length === 0 || ASCII_ONLY.test(text) || !isBad(text)) return text;
  let latin1 = false;
  for (const map of CHARMAPS) {
    const { fixed, encodable } = redecode(map, text);
    if (fixed !== undefined) return fixed;
    if (encodable && map.name === 'latin-1') latin1 = true;
  }
  if (UTF8_DETECTOR.test(text)) {
    const fixed = decodeInconsistentUtf8(text);
    if (fixed !== text) return fixed;
  }
  // Latin-1 text that did not re-decode: its C1 controls were most likely
  // meant as Windows-1252. (ftfy means to keep text that is valid in both, but
  // its check compares against the sloppy code page's name and never matches;
  // we follow what it does.)
  if (latin1) {
    const fixed = latin1AsWindows1252(text);
    if (fixed !== undefined && fixed !== text) return fixed;
  }
  if (C1_CONTROL.test(text)) return fixC1Controls(text);
  return text;
}

/** ftfy's fix_encoding with its default settings. */
export function fixEncoding(text: string): string {
  let current = text;
  for (;;) {
    const next = fixEncodingStep(current);
    if (next === current) return current;
    current = next;
  }
}
