// Python string semantics the reference cleanup relies on, where JavaScript's
// built-ins differ.

/**
 * The characters Python's str.isspace() accepts, which are also what `\s`
 * matches in a `re` pattern on str and what str.strip() removes (Unicode 14).
 * JavaScript's `\s` and trim() differ: they take U+FEFF and leave U+001C-U+001F
 * and U+0085 alone. Written as the body of a regex character class.
 */
export const PYTHON_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const EDGES = new RegExp(`^[${PYTHON_WHITESPACE}]+|[${PYTHON_WHITESPACE}]+$`, 'gu');
const RUNS = new RegExp(`[${PYTHON_WHITESPACE}]+`, 'gu');

/** str.strip() with no arguments. */
export function pythonStrip(text: string): string {
  return text.replace(EDGES, '');
}

/** re.sub(r'\s+', ' ', text): every run of whitespace becomes one space. */
export function collapseWhitespace(text: string): string {
  return text.replace(RUNS, ' ');
}

/**
 * str.lower(). JavaScript's toLowerCase applies the same full, locale-free
 * Unicode mapping (final sigma included); the tests check every code point
 * Python 3.11 knows (Unicode 14) against Python.
 */
export function pythonLower(text: string): string {
  return text.toLowerCase();
}

/** str.upper(), as ftfy applies it to entity values; see pythonLower. */
export function pythonUpper(text: string): string {
  return text.toUpperCase();
}
