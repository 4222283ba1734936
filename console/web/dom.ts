// A tiny element builder: the pages are a few tables and forms, so plain DOM
// calls suffice and the bundle stays a few kilobytes (no framework).
type Attr = string | number | boolean | undefined | ((e: Event) => void);
export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, Attr> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (v === true) el.setAttribute(k, '');
    else if (v !== false && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Says something to screen readers (the page's polite live region). */
export function announce(text: string): void {
  const region = document.getElementById('announce');
  if (region !== null) region.textContent = text;
}

/** A labelled form field: the label names the control, as screen readers read it. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLDivElement {
  const id = control.id || `f-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  control.id = id;
  const hintEl = hint === undefined ? undefined : h('span', { class: 'muted', id: `${id}-hint` }, hint);
  if (hintEl !== undefined) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

export function options(values: readonly (readonly [string, string])[], selected = ''): HTMLOptionElement[] {
  return values.map(([value, text]) => h('option', { value, selected: value === selected }, text));
}
