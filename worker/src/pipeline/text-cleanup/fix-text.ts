// ftfy 6.3.1's fix_text with its default settings, which is what the
// reference CLIP tokenizer runs first on every prompt.

import {
  fixCharacterWidth,
  fixLatinLigatures,
  fixLineBreaks,
  fixSurrogates,
  removeControlChars,
  removeTerminalEscapes,
  uncurlQuotes,
} from './character-fixes.js';
import { fixC1Controls, fixEncoding } from './fix-encoding.js';
import { ftfyUnescapeHtml } from './html-unescape.js';

/** ftfy fixes text in pieces of at most this many characters (code points). */
const MAX_SEGMENT = 1_000_000;

/**
 * Fixes the text line by line ("\n" stays with the line it ends). HTML
 * entities are decoded only until a line holds a literal "<": text with tags
 * is taken to be HTML whose entities mean what they say, and ftfy keeps that
 * decision for all later lines too.
 */
export function fixText(text: string): string {
  let unescapeHtml = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    let end = newline === -1 ? text.length : newline + 1;
    // A code point is one or two code units, so only long pieces need counting.
    if (end - pos > MAX_SEGMENT) end = Math.min(end, advanceCodePoints(text, pos, MAX_SEGMENT));
    const segment = text.slice(pos, end);
    if (unescapeHtml && segment.includes('<')) unescapeHtml = false;
    out += fixSegment(segment, unescapeHtml);
    pos = end;
  }
  return out;
}

/** Every fixer in ftfy's order, then NFC, until the text stops changing. */
function fixSegment(segment: string, unescapeHtml: boolean): string {
  let text = segment;
  for (;;) {
    const before = text;
    if (unescapeHtml) text = ftfyUnescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) return text;
  }
}

/** The index `count` code points after `from`, or the end of the text. */
function advanceCodePoints(text: string, from: number, count: number): number {
  let index = from;
  for (let n = 0; n < count && index < text.length; n++) {
    const unit = text.charCodeAt(index);
    const pair = unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length;
    const next = pair ? text.charCodeAt(index + 1) : 0;
    index += pair && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  return index;
}
