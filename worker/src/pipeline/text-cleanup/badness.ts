// ftfy 6.3.1's "badness" heuristic: does this text look like mojibake?
//
// Mojibake of UTF-8 is made of a few hundred characters (what UTF-8's lead and
// continuation bytes look like in the single-byte code pages). ftfy sorts them
// into categories and flags text where they sit together in ways real writing
// rarely has them, e.g. an accented lowercase letter right before a currency
// sign. fix_encoding only re-decodes text this flags. The categories and the
// juxtaposition rules below are ftfy's; the tests compare the verdicts with
// ftfy's on generated text.

type Item = number | readonly [number, number];

/** The body of a regex character class matching these code points and ranges. */
function cls(...items: readonly Item[]): string {
  const esc = (cp: number): string => `\\u{${cp.toString(16)}}`;
  return items.map((item) => (typeof item === 'number' ? esc(item) : `${esc(item[0])}-${esc(item[1])}`)).join('');
}

// Characters that appear in many contexts; on their own they say nothing.
const COMMON = cls(0xa0, 0xad, 0xb7, 0xb4, 0x2013, 0x2014, 0x2015, 0x2026, 0x2019);
// C1 controls: nobody writes these any more except by mojibake.
const C1 = cls([0x80, 0x9f]);
// Almost only ever seen in mojibake: ¦ ¤ ¨ ¬ ¯ ¸ ƒ ˆ ˇ ˘ ˛ ˜ † ‡ ‰ ⌐ ◊ � ª º.
const BAD = cls(0xa6, 0xa4, 0xa8, 0xac, 0xaf, 0xb8, 0x192, 0x2c6, 0x2c7, 0x2d8, 0x2db, 0x2dc, 0x2020, 0x2021, 0x2030, 0x2310, 0x25ca, 0xfffd, 0xaa, 0xba);
// ¶ §
const LAW = cls(0xb6, 0xa7);
// ¢ £ ¥ ₧ €
const CURRENCY = cls(0xa2, 0xa3, 0xa5, 0x20a7, 0x20ac);
// ¡ « ¿ © ΄ ΅ ‘ ‚ “ „ • ‹ and the Apple logo (U+F8FF).
const START_PUNCT = cls(0xa1, 0xab, 0xbf, 0xa9, 0x384, 0x385, 0x2018, 0x201a, 0x201c, 0x201e, 0x2022, 0x2039, 0xf8ff);
// ® » ˝ ” › ™
const END_PUNCT = cls(0xae, 0xbb, 0x2dd, 0x201d, 0x203a, 0x2122);
// ² ³ ¹ ± ¼ ½ ¾ × µ ÷ ⁄ ∂ ∆ ∏ ∑ √ ∞ ∩ ∫ ≈ ≠ ≡ ≤ ≥ №
const NUMERIC = cls(
  0xb2, 0xb3, 0xb9, 0xb1, 0xbc, 0xbd, 0xbe, 0xd7, 0xb5, 0xf7, 0x2044, 0x2202, 0x2206, 0x220f, 0x2211, 0x221a, 0x221e, 0x2229,
  0x222b, 0x2248, 0x2260, 0x2261, 0x2264, 0x2265, 0x2116,
);
// Letters people build emoticon faces from, so they get more leeway: Ò-Ö Ù-Ü ò-ö ø-ü Ő Ō Ū Ų °.
const KAOMOJI = cls([0xd2, 0xd6], [0xd9, 0xdc], [0xf2, 0xf6], [0xf8, 0xfc], 0x150, 0x14c, 0x16a, 0x172, 0xb0);
// À-Ñ Ø Ü Ý, and the accented capitals of the Central European, Baltic and Turkish code pages, Ґ.
const UPPER_ACCENTED = cls(
  [0xc0, 0xd1], 0xd8, 0xdc, 0xdd, 0x102, 0x100, 0x104, 0x106, 0x10c, 0x10e, 0x110, 0x118, 0x11a, 0x112, 0x116, 0x11e, 0x122,
  0x130, 0x12a, 0x136, 0x139, 0x13d, 0x141, 0x13b, 0x143, 0x147, 0x145, 0x152, 0x158, 0x15a, 0x15e, 0x160, 0x162, 0x164,
  0x16e, 0x170, 0x178, 0x179, 0x17b, 0x17d, 0x490,
);
// ß à-ñ, the matching lowercase letters, ü, ґ, and the ligatures ﬁ ﬂ.
const LOWER_ACCENTED = cls(
  0xdf, [0xe0, 0xf1], 0x103, 0x105, 0x101, 0x107, 0x10d, 0x10f, 0x111, 0x119, 0x11b, 0x113, 0x117, 0x11f, 0x123, 0x12f,
  0x12b, 0x137, 0x13a, 0x13e, 0x142, 0x13c, 0x153, 0x155, 0x15b, 0x15f, 0x161, 0x165, 0xfc, 0x17a, 0x17c, 0x17e, 0x491,
  0xfb01, 0xfb02,
);
// Þ, Greek capitals (Α-Ω, with tonos, with dialytika), Cyrillic Ё-Я.
const UPPER_COMMON = cls(0xde, [0x391, 0x3a9], 0x386, 0x388, 0x389, 0x38a, 0x38c, 0x38e, 0x38f, 0x3aa, 0x3ab, [0x401, 0x42f]);
// Greek lowercase (α-ω, with tonos), Cyrillic а-џ.
const LOWER_COMMON = cls([0x3b1, 0x3c9], 0x3ac, 0x3ad, 0x3ae, 0x3af, 0x3b0, [0x430, 0x45f]);
// Box drawing and blocks of the PC code page (not the single horizontal line, a kaomoji mouth).
const BOX = cls(
  0x2502, 0x250c, 0x2510, 0x2518, 0x251c, 0x2524, 0x252c, 0x253c, [0x2550, 0x256c],
  0x2580, 0x2584, 0x2588, 0x258c, 0x2590, 0x2591, 0x2592, 0x2593,
);

// Python's `\s` and `\w` on str; `.` is "anything but a newline".
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_WORD = '[\\p{L}\\p{N}_]';

const any = (...bodies: string[]): string => `[${bodies.join('')}]`;

// Each alternative is one unlikely juxtaposition, in ftfy's order.
const RULES: readonly string[] = [
  any(C1),
  any(BAD, LOWER_ACCENTED, UPPER_ACCENTED, BOX, START_PUNCT, END_PUNCT, CURRENCY, NUMERIC, LAW) + any(BAD),
  `[a-zA-Z]${any(LOWER_COMMON, UPPER_COMMON)}${any(BAD)}`,
  any(BAD) + any(LOWER_ACCENTED, UPPER_ACCENTED, BOX, START_PUNCT, END_PUNCT, CURRENCY, NUMERIC, LAW),
  any(LOWER_ACCENTED, LOWER_COMMON, BOX, END_PUNCT, CURRENCY, NUMERIC) + any(UPPER_ACCENTED),
  any(BOX, END_PUNCT, CURRENCY, NUMERIC) + any(LOWER_ACCENTED),
  any(LOWER_ACCENTED, BOX, END_PUNCT) + any(CURRENCY),
  PY_SPACE + any(UPPER_ACCENTED) + any(CURRENCY),
  any(UPPER_ACCENTED, BOX) + any(NUMERIC, LAW),
  any(LOWER_ACCENTED, UPPER_ACCENTED, BOX, CURRENCY, END_PUNCT) + any(START_PUNCT) + any(NUMERIC),
  any(LOWER_ACCENTED, UPPER_ACCENTED, CURRENCY, NUMERIC, BOX, LAW) + any(END_PUNCT) + any(START_PUNCT),
  any(CURRENCY, NUMERIC, BOX) + any(START_PUNCT),
  `[a-z]${any(UPPER_ACCENTED)}${any(START_PUNCT, CURRENCY)}`,
  any(BOX) + any(KAOMOJI),
  any(LOWER_ACCENTED, UPPER_ACCENTED, CURRENCY, NUMERIC, START_PUNCT, END_PUNCT, LAW) + any(BOX),
  any(BOX) + any(END_PUNCT),
  any(LOWER_ACCENTED, UPPER_ACCENTED) + any(START_PUNCT, END_PUNCT) + PY_WORD,
  // Œ/œ not followed by an unaccented Latin letter.
  '[\\u0152\\u0153][^A-Za-z]',
  // A degree sign after an accented capital.
  `${any(UPPER_ACCENTED)}\\u00b0`,
  // Windows-1252 two-character mojibake the rules above miss: Â Ã Î Ð before € œ Š š ¢ £ Ÿ ž NBSP SHY ® © ° · » – — ´ or punctuation.
  `[\\u00c2\\u00c3\\u00ce\\u00d0]${any(cls(0x20ac, 0x153, 0x160, 0x161, 0xa2, 0xa3, 0x178, 0x17e, 0xa0, 0xad, 0xae, 0xa9, 0xb0, 0xb7, 0xbb), START_PUNCT, END_PUNCT, cls(0x2013, 0x2014, 0xb4))}`,
  '\\u00d7[\\u00b2\\u00b3]',
  // Windows-1252 mojibake of Arabic needs the common characters too, so it takes four in a row.
  `[\\u00d8\\u00d9]${any(COMMON, CURRENCY, BAD, NUMERIC, START_PUNCT, cls(0x178, 0x160, 0xae, 0xb0, 0xb5, 0xbb))}` +
    `[\\u00d8\\u00d9]${any(COMMON, CURRENCY, BAD, NUMERIC, START_PUNCT, cls(0x178, 0x160, 0xae, 0xb0, 0xb5, 0xbb))}`,
  // Windows-1252 starts of three-byte South Asian letters: à before ² µ ¹ ¼ ½ ¾.
  '\\u00e0[\\u00b2\\u00b5\\u00b9\\u00bc\\u00bd\\u00be]',
  // Mac OS Roman mojibake: √ ≈ ‚Ä ‚â ‚ó sequences.
  `\\u221a${any(cls(0xb1, 0x2202, 0x2020, 0x2260, 0xae, 0x2122, 0xb4, 0x2264, 0x2265, 0xa5, 0xb5, 0xf8))}`,
  '\\u2248[\\u00b0\\u00a2]',
  `\\u201a\\u00c4${any(cls(0xec, 0xee, 0xef, 0xf2, 0xf4, 0xfa, 0xf9, 0xfb, 0x2020, 0xb0, 0xa2, 0x3c0))}`,
  '\\u201a[\\u00e2\\u00f3][\\u00e0\\u00e4\\u00b0\\u00ea]',
  // Windows-1251 mojibake of U+2000-range punctuation: вЂ.
  '\\u0432\\u0402',
  // Windows-1251 mojibake of Latin-1 or Cyrillic, three characters: В Г Р С around a symbol.
  `[\\u0412\\u0413\\u0420\\u0421]${any(C1, BAD, START_PUNCT, END_PUNCT, CURRENCY, cls(0xb0, 0xb5))}[\\u0412\\u0413\\u0420\\u0421]`,
  // Windows-1251 over Latin-1 over Windows-1252 (ГўВЂВ), next to a Latin letter.
  '\\u0413\\u045e\\u0412\\u0402\\u0412[^\\n][A-Za-z ]',
  // à and á in Windows-1252 mojibake, and NBSP itself.
  '\\u00c3[\\u00a0\\u00a1]',
  `[a-z]${PY_SPACE}?[\\u00c3\\u00c2] `,
  '^[\\u00c3\\u00c2] ',
  // Â as the Windows-1252 mojibake of the very character it precedes.
  `[a-z.,?!${END_PUNCT}]\\u00c2[ ${START_PUNCT}${END_PUNCT}]`,
  // Windows-1253 mojibake of U+2000-range punctuation: β€ before ™ NBSP Ά SHY ® °.
  '\\u03b2\\u20ac[\\u2122\\u00a0\\u0386\\u00ad\\u00ae\\u00b0]',
  // Windows-1253 mojibake of Latin-1 or Greek, three characters: Β Γ Ξ Ο around a symbol.
  `[\\u0392\\u0393\\u039e\\u039f]${any(C1, BAD, START_PUNCT, END_PUNCT, CURRENCY, cls(0xb0))}[\\u0392\\u0393\\u039e\\u039f]`,
  // Windows-1257 mojibake of U+2000-range punctuation: ā€.
  '\\u0101\\u20ac',
];

const BADNESS = new RegExp(RULES.join('|'), 'u');

/** ftfy's is_bad: true when some part of the text looks like mojibake. */
export function isBad(text: string): boolean {
  return BADNESS.test(text);
}
