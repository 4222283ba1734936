import { describe, expect, it } from 'vitest';
import { isBad } from './badness.js';
import { CHARMAPS, decodeByte } from './charmaps.js';
import { clipCleanup } from './clip-cleanup.js';
import { fixText } from './fix-text.js';
import { ftfyUnescapeHtml, pythonHtmlUnescape } from './html-unescape.js';
import { PYTHON_WHITESPACE, collapseWhitespace, pythonLower, pythonStrip } from './python-text.js';
import { codePoints, loadReferenceFixtures } from './reference-fixtures.js';
import { decodeUtf8, encodeUtf8 } from './utf8.js';

const ref = loadReferenceFixtures();
const { tables } = ref;

describe('CLIP text cleanup against the reference (OpenAI CLIP with ftfy, html, re)', () => {
  it('was generated with the ftfy this port follows', () => {
    expect(ref.ftfy_version).toBe('6.3.1');
    expect(ref.fixtures.length).toBeGreaterThanOrEqual(60);
  });

  it.each(ref.fixtures.map((f) => [f.class, f.prompt, f.cleaned] as const))('%s: %j', (_class, prompt, cleaned) => {
    expect(clipCleanup(prompt)).toBe(cleaned);
  });

  it('covers every class of pasted text the issue names', () => {
    const classes = new Set(ref.fixtures.map((f) => f.class));
    for (const c of ['html', 'quotes', 'dashes', 'ligatures', 'width', 'zero-width', 'soft-hyphen', 'bom', 'mojibake', 'cjk', 'emoji', 'combining', 'control', 'whitespace']) {
      expect(classes, c).toContain(c);
    }
  });
});

describe('ftfy.fix_text port', () => {
  it('fixes generated mojibake (1 and 2 levels, whole or in part, lossy) and leaves clean text as ftfy does', () => {
    const wrong = tables.fix_text.filter(([input, want]) => fixText(input) !== want);
    expect(wrong.map(([input, want]) => ({ input, want, got: fixText(input) }))).toEqual([]);
    // The probes are not all no-ops.
    expect(tables.fix_text.filter(([input, want]) => input !== want).length).toBeGreaterThan(300);
  });

  it('judges mojibake-looking text as ftfy.badness.is_bad does', () => {
    const wrong = tables.is_bad.filter(([text, bad]) => isBad(text) !== bad);
    expect(wrong).toEqual([]);
    expect(tables.is_bad.filter(([, bad]) => bad).length).toBeGreaterThan(500);
  });

  it("has Python's code pages, sloppy where ftfy's are", () => {
    expect(CHARMAPS.map((c) => c.name)).toEqual(Object.keys(tables.codepages));
    for (const map of CHARMAPS) expect(map.high + decodeByte(map, 0x1a), map.name).toBe(tables.codepages[map.name]);
  });

  it('decodes UTF-8 strictly, with the two variants ftfy accepts', () => {
    expect(decodeUtf8(encodeUtf8('café 🐱 日本'), false)).toBe('café 🐱 日本');
    expect(decodeUtf8('\xc3', false)).toBeUndefined(); // cut short
    expect(decodeUtf8('\xc0\xaf', true)).toBeUndefined(); // overlong "/"
    expect(decodeUtf8('\xed\xa0\x80', true)).toBeUndefined(); // lone surrogate
    expect(decodeUtf8('\xf4\x90\x80\x80', false)).toBeUndefined(); // past U+10FFFF
    expect(decodeUtf8('a\xc0\x80b', true)).toBe('a\u0000b'); // Java's modified UTF-8
    expect(decodeUtf8('a\xc0\x80b', false)).toBeUndefined();
    expect(decodeUtf8('\xed\xa0\xbd\xed\xb8\x80', true)).toBe('😀'); // CESU-8
  });
});

describe('HTML unescaping', () => {
  it("decodes every HTML5 name as Python's html.unescape, with and without ';'", () => {
    const wrong = Object.entries(tables.html_unescape).filter(([input, want]) => pythonHtmlUnescape(input) !== want);
    expect(wrong).toEqual([]);
    // Upper-cased names HTML does not know stay as they are.
    for (const name of tables.html_entity_names) {
      if (!name.endsWith(';')) continue;
      const upper = `&${name.slice(0, -1).toUpperCase()};`;
      expect(pythonHtmlUnescape(upper), upper).toBe(tables.html_unescape[upper] ?? upper);
    }
    expect(tables.html_entity_names.length).toBe(2231);
  });

  it("decodes as ftfy's stricter unescape_html, including all-caps names", () => {
    const probes = [
      ...tables.html_entity_names.filter((n) => n.endsWith(';')).map((n) => `&${n.slice(0, -1).toUpperCase()};`),
      ...tables.ftfy_unescape_extra,
    ];
    const wrong = probes.filter((p) => ftfyUnescapeHtml(p) !== (tables.ftfy_unescape_html[p] ?? p));
    expect(wrong.map((p) => ({ p, want: tables.ftfy_unescape_html[p] ?? p, got: ftfyUnescapeHtml(p) }))).toEqual([]);
  });

  it('takes numeric references as HTML5 does', () => {
    expect(pythonHtmlUnescape('&#65;&#x42;&#X43;&#68')).toBe('ABCD');
    expect(pythonHtmlUnescape('&#0;|&#13;|&#x80;|&#x81;|&#xD800;|&#1114112;|&#99999999999999999999;')).toBe('\ufffd|\r|€|\x81|\ufffd|\ufffd|\ufffd');
    expect(pythonHtmlUnescape('a&#1;b&#x7f;c&#xFDD0;d&#x1FFFE;e&#xb;f')).toBe('abcdef');
  });
});

describe('Python string semantics', () => {
  it("treats as whitespace exactly what Python's str.isspace does", () => {
    const space = new RegExp(`^[${PYTHON_WHITESPACE}]$`, 'u');
    const ours: number[] = [];
    for (let cp = 0; cp < 0x110000; cp++) if (space.test(String.fromCodePoint(cp))) ours.push(cp);
    expect(ours).toEqual(tables.python_whitespace);
    expect(pythonStrip('\ufeff\x1c a \x85')).toBe('\ufeff\x1c a'); // U+FEFF is not whitespace to Python, U+001C is
    expect(collapseWhitespace('a\u3000\t b')).toBe('a b');
  });

  it(`lower-cases every code point of Unicode ${tables.unicode_version} as str.lower does`, () => {
    const wrong: string[] = [];
    for (const cp of codePoints(tables.assigned)) {
      const ch = String.fromCodePoint(cp);
      if (pythonLower(ch) !== (tables.lower[String(cp)] ?? ch)) wrong.push(cp.toString(16));
    }
    expect(wrong).toEqual([]);
    expect(pythonLower('ΟΔΟΣ ΣΑ')).toBe('οδος σα'); // final sigma, as Python
  });
});
