// UTF-8 decoding as ftfy's fix_encoding does it, on "binary strings" (one
// char U+0000-U+00FF per byte, as charmaps.ts produces them).
//
// Strict: any ill-formed sequence (stray continuation byte, overlong form,
// encoded surrogate, past U+10FFFF, cut short) fails the whole decode, as
// Python's bytes.decode('utf-8') raises; ftfy then tries the next code page.
// With `variants` (ftfy's "utf-8-variants", used when the bytes hold 0xC0 or
// 0xED) two non-standard forms are also accepted: C0 80 as U+0000 (Java's
// modified UTF-8) and a surrogate pair written as two 3-byte sequences
// (CESU-8) as the one character it encodes.

/** The decoded text, or undefined when the bytes are not (variant) UTF-8. */
export function decodeUtf8(bytes: string, variants: boolean): string | undefined {
  const at = (i: number): number => (i < bytes.length ? bytes.charCodeAt(i) : -1);
  const isCont = (b: number, lo = 0x80, hi = 0xbf): boolean => b >= lo && b <= hi;
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b0 = at(i);
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i += 1;
      continue;
    }
    if (variants && b0 === 0xc0 && at(i + 1) === 0x80) {
      out += '\u0000';
      i += 2;
      continue;
    }
    if (
      variants &&
      b0 === 0xed &&
      isCont(at(i + 1), 0xa0, 0xaf) &&
      isCont(at(i + 2)) &&
      at(i + 3) === 0xed &&
      isCont(at(i + 4), 0xb0, 0xbf) &&
      isCont(at(i + 5))
    ) {
      const cp =
        0x10000 + ((at(i + 1) & 0x0f) << 16) + ((at(i + 2) & 0x3f) << 10) + ((at(i + 4) & 0x0f) << 6) + (at(i + 5) & 0x3f);
      out += String.fromCodePoint(cp);
      i += 6;
      continue;
    }
    // Well-formed UTF-8 (Unicode's table 3-7): the second byte's range depends on the first.
    let length: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
    else if (b0 >= 0xe0 && b0 <= 0xef) {
      length = 3;
      if (b0 === 0xe0) lo = 0xa0;
      if (b0 === 0xed) hi = 0x9f;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      length = 4;
      if (b0 === 0xf0) lo = 0x90;
      if (b0 === 0xf4) hi = 0x8f;
    } else return undefined;
    if (!isCont(at(i + 1), lo, hi)) return undefined;
    let cp = b0 & (length === 2 ? 0x1f : length === 3 ? 0x0f : 0x07);
    for (let k = 1; k < length; k++) {
      const b = at(i + k);
      if (!isCont(b)) return undefined;
      cp = (cp << 6) | (b & 0x3f);
    }
    out += String.fromCodePoint(cp);
    i += length;
  }
  return out;
}

const utf8 = new TextEncoder();

/** The UTF-8 bytes of `text` as a binary string. */
export function encodeUtf8(text: string): string {
  let out = '';
  for (const byte of utf8.encode(text)) out += String.fromCharCode(byte);
  return out;
}
