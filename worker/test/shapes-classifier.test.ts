// The test classifier must itself be right before it judges the model.
import { describe, expect, it } from 'vitest';
import { classify, COLORS, SHAPES, shapeMask } from './shapes-classifier.js';

function render(color: string, shape: string, bg: string, cx: number, cy: number, r: number): Uint8Array {
  const m = shapeMask(shape, cx, cy, r, 64);
  const out = new Uint8Array(64 * 64 * 3);
  for (let i = 0; i < m.length; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = (m[i] ? COLORS[color]! : COLORS[bg]!)[c]!;
  return out;
}

describe('shapes classifier', () => {
  it.each(SHAPES.map((s, i) => [s, ['red', 'cyan', 'white', 'black', 'purple'][i]!, ['blue', 'gray', 'green', 'yellow', 'white'][i]!]))('recognises a %s', (shape, color, bg) => {
    for (const [cx, cy, r] of [[32, 32, 18], [24, 38, 12], [40, 30, 15]] as const) {
      expect(classify(render(color, shape, bg, cx, cy, r), 64)).toEqual({ color, shape, background: bg });
    }
  });
});
