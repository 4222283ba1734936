// Keyboard and screen-reader basics, checked in the page as it is: landmarks,
// a name for every control, and text contrast of at least 4.5:1 (3:1 for
// large text, WCAG AA) against the background it is drawn on.
import type { Page } from 'playwright-core';

// What the function below uses of the page (it runs in the browser; this Node project has no DOM types).
interface Style { color: string; backgroundColor: string; fontSize: string; fontWeight: string; visibility: string; display: string }
interface Node { nodeType: number; textContent: string | null }
interface El extends Node {
  tagName: string;
  parentElement: El | null;
  childNodes: ArrayLike<Node> & Iterable<Node>;
  labels?: ArrayLike<El> | null;
  getAttribute(name: string): string | null;
  closest(selector: string): El | null;
  getClientRects(): ArrayLike<unknown>;
  matches(selector: string): boolean;
}
declare const document: { querySelector(s: string): El | null; querySelectorAll(s: string): ArrayLike<El> & Iterable<El> };
declare function getComputedStyle(el: El): Style;

/** Problems found on the page now, one line each; empty when it passes. */
export function a11yProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const describe = (el: El) => `<${el.tagName.toLowerCase()}> "${(el.textContent ?? '').trim().slice(0, 40)}"`;
    for (const landmark of ['header', 'nav', 'main']) if (document.querySelector(landmark) === null) problems.push(`no <${landmark}> landmark`);
    const visible = (el: El) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    for (const c of document.querySelectorAll('input, select, textarea')) {
      if (!visible(c) || c.getAttribute('type') === 'hidden') continue;
      const named = (c.labels?.length ?? 0) > 0 || c.getAttribute('aria-label') !== null || c.getAttribute('aria-labelledby') !== null;
      if (!named) problems.push(`unlabelled control ${describe(c)}`);
    }
    for (const c of document.querySelectorAll('button, a[href], progress, meter')) {
      if (!visible(c)) continue;
      if ((c.textContent ?? '').trim() === '' && c.getAttribute('aria-label') === null) problems.push(`control without a name ${describe(c)}`);
    }
    const rgb = (s: string): [number, number, number, number] => {
      const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(s);
      return m === null ? [0, 0, 0, 0] : [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])];
    };
    const luminance = ([r, g, b]: number[]) => {
      const lin = (v: number) => { const c = v / 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * lin(r ?? 0) + 0.7152 * lin(g ?? 0) + 0.0722 * lin(b ?? 0);
    };
    const background = (el: El): number[] => {
      for (let e: El | null = el; e !== null; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c[3] > 0) return c;
      }
      return [255, 255, 255, 1];
    };
    for (const el of document.querySelectorAll('body *')) {
      const hasText = [...el.childNodes].some((n) => n.nodeType === 3 && (n.textContent ?? '').trim() !== '');
      // Disabled controls are exempt from contrast (WCAG 1.4.3); hidden ones are not seen.
      if (!hasText || !visible(el) || el.closest(':disabled, .visually-hidden, [hidden], option') !== null) continue;
      const s = getComputedStyle(el);
      const fg = luminance(rgb(s.color));
      const bg = luminance(background(el));
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const size = parseFloat(s.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) problems.push(`contrast ${ratio.toFixed(2)}:1 of ${describe(el)}`);
    }
    return problems;
  });
}

declare const window: { document: { activeElement: El | null } };

/** The outline the focused element draws (its style and width): focus must be visible. */
export function focusOutline(page: Page): Promise<{ tag: string; style: string; width: string }> {
  return page.evaluate(() => {
    const el = window.document.activeElement;
    if (el === null) return { tag: '', style: 'none', width: '0px' };
    const s = getComputedStyle(el) as Style & { outlineStyle: string; outlineWidth: string };
    return { tag: el.tagName.toLowerCase(), style: s.outlineStyle, width: s.outlineWidth };
  });
}
