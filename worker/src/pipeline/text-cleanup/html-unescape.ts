// HTML character references, decoded two ways:
// - pythonHtmlUnescape: Python's html.unescape (HTML5's rules for text),
//   which the reference CLIP cleanup applies twice after ftfy;
// - ftfyUnescapeHtml: ftfy's stricter fixer, which only takes references
//   that end in ";" (so "this&not that" stays), plus all-caps spellings of
//   lowercase entity names ("P&EACUTE;REZ"), as fix_text's first step.

import { HTML5_ENTITIES, LEGACY_ENTITY_NAMES } from './html-entities.js';
import { pythonUpper } from './python-text.js';

// Python's pattern: decimal or hex number, or up to 32 name characters, each with an optional ";".
const CHAR_REF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// HTML5 maps these numeric references to what Windows-1252 puts at those
// bytes (0x81, 0x8D, 0x8F, 0x90 and 0x9D stay themselves).
const C1_REFS = '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** Code points a numeric reference may not produce; Python drops such a reference. */
function isDroppedCodePoint(cp: number): boolean {
  return (
    (cp >= 0x01 && cp <= 0x08) ||
    cp === 0x0b ||
    (cp >= 0x0e && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xfffe) === 0xfffe // U+FFFE, U+FFFF and their counterparts in every plane
  );
}

function numericReference(body: string): string {
  const digits = body.replace(/;$/, '');
  const hex = digits[1] === 'x' || digits[1] === 'X';
  // Digit runs can be arbitrarily long; anything past U+10FFFF is U+FFFD either way.
  const cp = hex ? Number.parseInt(digits.slice(2), 16) : Number.parseInt(digits.slice(1), 10);
  if (cp === 0) return '\ufffd';
  if (cp === 0x0d) return '\r';
  if (cp >= 0x80 && cp <= 0x9f) return C1_REFS[cp - 0x80] ?? '';
  if ((cp >= 0xd800 && cp <= 0xdfff) || !(cp <= 0x10ffff)) return '\ufffd';
  if (isDroppedCodePoint(cp)) return '';
  return String.fromCodePoint(cp);
}

function namedReference(name: string): string {
  const full = name.endsWith(';')
    ? HTML5_ENTITIES.get(name.slice(0, -1))
    : LEGACY_ENTITY_NAMES.has(name)
      ? HTML5_ENTITIES.get(name)
      : undefined;
  if (full !== undefined) return full;
  // The longest prefix that is a name HTML accepts without ";" ("&notit;" is "¬it;").
  for (let length = name.length - 1; length > 1; length--) {
    const prefix = name.slice(0, length);
    if (LEGACY_ENTITY_NAMES.has(prefix)) return (HTML5_ENTITIES.get(prefix) ?? '') + name.slice(length);
  }
  return `&${name}`;
}

/** Python's html.unescape. */
export function pythonHtmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHAR_REF, (_match, body: string) =>
    body.startsWith('#') ? numericReference(body) : namedReference(body),
  );
}

// ftfy's candidates: "&", an optional "#", 1-24 ASCII letters or digits, ";".
const FTFY_REF = /&#?[0-9A-Za-z]{1,24};/g;

let ftfyEntities: ReadonlyMap<string, string> | undefined;

/**
 * "&name;" for every HTML5 name, plus "&NAME;" for each all-lowercase name
 * whose upper-case spelling HTML itself does not decode, standing for the
 * upper-cased text ("&SZLIG;" is "SS").
 */
function ftfyEntityTable(): ReadonlyMap<string, string> {
  if (ftfyEntities !== undefined) return ftfyEntities;
  const table = new Map<string, string>();
  for (const [name, text] of HTML5_ENTITIES) table.set(`&${name};`, text);
  for (const [name, text] of HTML5_ENTITIES) {
    if (name !== name.toLowerCase()) continue;
    const upper = `&${name.toUpperCase()};`;
    if (pythonHtmlUnescape(upper) === upper) table.set(upper, pythonUpper(text));
  }
  ftfyEntities = table;
  return table;
}

/** ftfy's unescape_html fixer. */
export function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntityTable();
  return text.replace(FTFY_REF, (ref) => {
    const named = table.get(ref);
    if (named !== undefined) return named;
    if (!ref.startsWith('&#')) return ref;
    // A number HTML reads only in part (it would leave the ";") is not taken.
    const decoded = pythonHtmlUnescape(ref);
    return decoded.includes(';') ? ref : decoded;
  });
}
