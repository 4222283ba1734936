// ftfy 6.3.1's character-level fixers, each applied to the whole text by fix_text.

// Latin ligatures and legacy digraphs, split into their letters (ﬁ → fi).
// Ligatures people use on purpose (æ, œ) and those of other scripts stay.
const LIGATURES: ReadonlyMap<string, string> = new Map([
  ['\u0132', 'IJ'],
  ['\u0133', 'ij'],
  ['\u0149', '\u02bcn'],
  ['\u01f1', 'DZ'],
  ['\u01f2', 'Dz'],
  ['\u01f3', 'dz'],
  ['\u01c4', 'D\u017d'],
  ['\u01c5', 'D\u017e'],
  ['\u01c6', 'd\u017e'],
  ['\u01c7', 'LJ'],
  ['\u01c8', 'Lj'],
  ['\u01c9', 'lj'],
  ['\u01ca', 'NJ'],
  ['\u01cb', 'Nj'],
  ['\u01cc', 'nj'],
  ['\ufb00', 'ff'],
  ['\ufb01', 'fi'],
  ['\ufb02', 'fl'],
  ['\ufb03', 'ffi'],
  ['\ufb04', 'ffl'],
  ['\ufb05', '\u017ft'],
  ['\ufb06', 'st'],
]);
const LIGATURE = new RegExp(`[${[...LIGATURES.keys()].join('')}]`, 'gu');

export function fixLatinLigatures(text: string): string {
  return text.replace(LIGATURE, (ch) => LIGATURES.get(ch) ?? ch);
}

// Fullwidth ASCII and halfwidth katakana/hangul (U+FF01-U+FFEF) to their usual
// forms, which is what NFKC gives for them, and the ideographic space to a space.
const WIDTH = /[\u3000\uff01-\uffef]/gu;

export function fixCharacterWidth(text: string): string {
  return text.replace(WIDTH, (ch) => (ch === '\u3000' ? ' ' : ch.normalize('NFKC')));
}

export function uncurlQuotes(text: string): string {
  return text.replace(/[\u201c-\u201f]/gu, '"').replace(/[\u02bc\u2018-\u201b]/gu, "'");
}

/** CRLF, CR, LINE SEPARATOR, PARAGRAPH SEPARATOR and NEXT LINE all become "\n". */
export function fixLineBreaks(text: string): string {
  return text.replace(/\r\n|[\r\u2028\u2029\x85]/gu, '\n');
}

// A JavaScript string holds surrogate pairs as the characters they encode
// already; what is left are halves without their partner.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function fixSurrogates(text: string): string {
  return text.replace(LONE_SURROGATE, '\ufffd');
}

// ANSI escapes such as colours: ESC [ digits-and-semicolons letter. Python's
// \d there takes any decimal digit, not only ASCII ones.
const TERMINAL_ESCAPE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;

export function removeTerminalEscapes(text: string): string {
  return text.replace(TERMINAL_ESCAPE, '');
}

// Controls with no visible effect: C0 controls but tab, LF, FF and CR; DEL;
// the deprecated Arabic format controls; the BOM; interlinear annotation and
// the object replacement character. C1 controls, joiners, direction marks and
// tag characters stay (they carry meaning, or evidence of mojibake).
const CONTROL = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/gu;

export function removeControlChars(text: string): string {
  return text.replace(CONTROL, '');
}
