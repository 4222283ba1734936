// A grid of equal cells that builds only the rows in view (plus a margin), so
// a job of 10,000 images scrolls as smoothly as one of ten: the page holds a
// few dozen cells whatever the count, and new images only grow a spacer.
import { h } from './dom.js';

const CELL = 168;
const OVERSCAN_ROWS = 2;

export class VirtualGrid<T> {
  readonly el: HTMLDivElement;
  private readonly inner: HTMLDivElement;
  private items: T[] = [];
  private readonly shown = new Map<number, HTMLElement>();
  private frame = 0;

  constructor(label: string, private readonly cell: (item: T, index: number) => HTMLElement) {
    this.inner = h('div', { class: 'grid-inner', role: 'list' });
    this.el = h('div', { class: 'grid', role: 'region', 'aria-label': label, tabindex: 0 }, this.inner);
    this.el.addEventListener('scroll', () => this.schedule());
    new ResizeObserver(() => {
      // A new width changes the columns: every cell moves.
      this.clear();
      this.schedule();
    }).observe(this.el);
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    this.items.push(item);
    this.schedule();
  }

  /** Lays out on the next frame: a burst of images costs one layout. */
  private schedule(): void {
    if (this.frame !== 0) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.layout();
    });
  }

  private clear(): void {
    for (const el of this.shown.values()) el.remove();
    this.shown.clear();
  }

  private layout(): void {
    const width = this.el.clientWidth || CELL;
    const cols = Math.max(1, Math.floor(width / CELL));
    const size = Math.floor(width / cols);
    const rows = Math.ceil(this.items.length / cols);
    this.inner.style.height = `${rows * size}px`;
    const first = Math.max(0, Math.floor(this.el.scrollTop / size) - OVERSCAN_ROWS);
    const last = Math.min(rows, Math.ceil((this.el.scrollTop + this.el.clientHeight) / size) + OVERSCAN_ROWS);
    const from = first * cols;
    const to = Math.min(this.items.length, last * cols);
    for (const [i, el] of this.shown) {
      if (i < from || i >= to) {
        // Keep a cell that holds the keyboard focus, so tabbing through the grid never loses its place.
        if (el.contains(document.activeElement)) continue;
        el.remove();
        this.shown.delete(i);
      }
    }
    for (let i = from; i < to; i++) {
      if (this.shown.has(i)) continue;
      const el = this.cell(this.items[i] as T, i);
      el.classList.add('cell');
      el.setAttribute('role', 'listitem');
      el.style.cssText = `left:${(i % cols) * size}px;top:${Math.floor(i / cols) * size}px;width:${size}px;height:${size}px`;
      this.shown.set(i, el);
      this.inner.appendChild(el);
    }
  }
}
