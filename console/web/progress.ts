// A job's live progress: a bar (finished images, plus the steps of images
// being rendered), the count, images per second and the time left.
import type { ImageCountsView, JobStateName } from './api-types.js';
import { h } from './dom.js';
import { done, duration, FINISHED } from './format.js';
import { Rate } from './rate.js';

export class JobProgress {
  readonly el: HTMLSpanElement;
  private readonly bar: HTMLProgressElement;
  private readonly text: HTMLSpanElement;
  readonly rate = new Rate();
  /** Fractions of images being rendered (step / steps), by image id. */
  private readonly partial = new Map<string, number>();

  constructor(private counts: ImageCountsView, private state: JobStateName, label: string) {
    this.bar = h('progress', { max: counts.total || 1, value: done(counts), 'aria-label': label });
    this.text = h('span', { class: 'muted' });
    this.el = h('span', { class: 'progress' }, this.bar, ' ', this.text);
    this.render();
  }

  setState(state: JobStateName, counts: ImageCountsView): void {
    this.state = state;
    this.counts = counts;
    if (FINISHED.has(state)) this.partial.clear();
    this.render();
  }

  imageFinished(imageId: string, ok: boolean, unixMs: number): void {
    this.partial.delete(imageId);
    this.counts = { ...this.counts, succeeded: this.counts.succeeded + (ok ? 1 : 0), failed: this.counts.failed + (ok ? 0 : 1) };
    this.rate.add(unixMs);
    this.render();
  }

  steps(images: readonly { imageId: string; step: number; totalSteps: number }[]): void {
    for (const s of images) this.partial.set(s.imageId, s.totalSteps > 0 ? Math.min(1, s.step / s.totalSteps) : 0);
    this.render();
  }

  get current(): ImageCountsView {
    return this.counts;
  }

  private render(): void {
    const c = this.counts;
    const finished = done(c);
    let inFlight = 0;
    for (const f of this.partial.values()) inFlight += f;
    this.bar.max = c.total || 1;
    this.bar.value = Math.min(c.total, finished + inFlight);
    let text = `${c.succeeded}/${c.total} images`;
    if (c.failed > 0) text += `, ${c.failed} failed`;
    if (!FINISHED.has(this.state)) {
      const r = this.rate.perSecond();
      text += r > 0 ? ` · ${r.toFixed(1)} img/s · ETA ${duration(this.rate.eta(c.total - finished))}` : '';
    }
    this.text.textContent = text;
    this.bar.setAttribute('aria-valuetext', text);
  }
}
