// The text cleanup of OpenAI CLIP's reference tokenizer (simple_tokenizer.py),
// which Stable Diffusion's text encoders were trained with:
//   basic_clean:      ftfy.fix_text, html.unescape twice, strip
//   whitespace_clean: every whitespace run to one space, strip
//   then str.lower().
// transformers' CLIPTokenizer does the same only when ftfy is installed;
// without it (its usual install) it cleans with BERT's BasicTokenizer
// instead, which keeps "&amp;", curly quotes, ligatures, fullwidth letters
// and mojibake, and splits runs of CJK ideographs into single characters.
// Prompts are pasted from the web, so we follow the reference.

import { fixText } from './fix-text.js';
import { pythonHtmlUnescape } from './html-unescape.js';
import { collapseWhitespace, pythonLower, pythonStrip } from './python-text.js';

export function clipCleanup(text: string): string {
  const basic = pythonStrip(pythonHtmlUnescape(pythonHtmlUnescape(fixText(text))));
  return pythonLower(pythonStrip(collapseWhitespace(basic)));
}
