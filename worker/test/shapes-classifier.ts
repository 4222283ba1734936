// A small classifier for images of the bundled shapes model, mirroring the
// recipe's (models/shapes-ldm/recipe/eval.py): background = palette colour
// nearest the border median; colour = palette colour nearest the median of
// clearly-foreground pixels; shape = best IoU of the foreground mask against
// each shape drawn into the mask's bounding box.

export const COLORS: Record<string, [number, number, number]> = {
  red: [220, 30, 30], green: [30, 170, 50], blue: [30, 60, 220], yellow: [240, 220, 40], purple: [160, 40, 200],
  cyan: [40, 200, 220], white: [245, 245, 245], black: [15, 15, 15], gray: [128, 128, 128],
};
export const FG_COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'cyan', 'white', 'black'];
export const BG_COLORS = ['white', 'black', 'gray', 'blue', 'red', 'yellow', 'green'];
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'cross'] as const;

type Pt = [number, number];

function polygon(shape: string, cx: number, cy: number, r: number): Pt[] | undefined {
  if (shape === 'circle') return undefined;
  if (shape === 'square') {
    const q = r * 0.85;
    return [[cx - q, cy - q], [cx + q, cy - q], [cx + q, cy + q], [cx - q, cy + q]];
  }
  if (shape === 'triangle') return [[cx, cy - r], [cx + r, cy + r], [cx - r, cy + r]];
  if (shape === 'star') {
    return Array.from({ length: 10 }, (_, i): Pt => {
      const a = -Math.PI / 2 + (i * Math.PI) / 5;
      const rad = i % 2 === 0 ? r : r * 0.45;
      return [cx + rad * Math.cos(a), cy + rad * Math.sin(a) + r * 0.1];
    });
  }
  const w = r * 0.38;
  return [[cx - w, cy - r], [cx + w, cy - r], [cx + w, cy - w], [cx + r, cy - w], [cx + r, cy + w], [cx + w, cy + w],
    [cx + w, cy + r], [cx - w, cy + r], [cx - w, cy + w], [cx - r, cy + w], [cx - r, cy - w], [cx - w, cy - w]];
}

function inside(poly: Pt[], x: number, y: number): boolean {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i] as Pt;
    const [xj, yj] = poly[j] as Pt;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

/** Binary mask (coverage ≥ 0.5, 2×2 supersampled) of a shape, over the window [x0, x0+w) × [y0, y0+h). */
export function shapeMask(shape: string, cx: number, cy: number, r: number, size: number, win = { x0: 0, y0: 0, w: size, h: size }): Uint8Array {
  const poly = polygon(shape, cx, cy, r);
  const m = new Uint8Array(win.w * win.h);
  const test = poly === undefined
    ? (px: number, py: number) => (px - cx) ** 2 + (py - cy) ** 2 <= r * r
    : (px: number, py: number) => inside(poly, px, py);
  for (let y = 0; y < win.h; y++) {
    for (let x = 0; x < win.w; x++) {
      const X = x + win.x0;
      const Y = y + win.y0;
      const hits = +test(X + 0.25, Y + 0.25) + +test(X + 0.75, Y + 0.25) + +test(X + 0.25, Y + 0.75) + +test(X + 0.75, Y + 0.75);
      m[y * win.w + x] = hits >= 2 ? 1 : 0;
    }
  }
  return m;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const nearest = (names: string[], c: readonly number[]): string => {
  let best = names[0] as string;
  let bestD = Infinity;
  for (const n of names) {
    const p = COLORS[n] as number[];
    const d = (p[0]! - c[0]!) ** 2 + (p[1]! - c[1]!) ** 2 + (p[2]! - c[2]!) ** 2;
    if (d < bestD) { bestD = d; best = n; }
  }
  return best;
};

export interface Classified { color: string | undefined; shape: string | undefined; background: string }

export function classify(rgb: Uint8Array, size: number): Classified {
  const px = (x: number, y: number): number[] => [0, 1, 2].map((c) => rgb[(y * size + x) * 3 + c] as number);
  const border: number[][] = [];
  for (let i = 0; i < size; i++) border.push(px(i, 0), px(i, size - 1), px(0, i), px(size - 1, i));
  const bgc = [0, 1, 2].map((c) => median(border.map((p) => p[c] as number)));
  const background = nearest(BG_COLORS, bgc);
  const dist = new Float32Array(size * size);
  let maxD = 0;
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) {
    const p = px(x, y);
    const d = Math.hypot(p[0]! - bgc[0]!, p[1]! - bgc[1]!, p[2]! - bgc[2]!);
    dist[y * size + x] = d;
    maxD = Math.max(maxD, d);
  }
  const core: number[][] = [];
  for (let i = 0; i < dist.length; i++) if ((dist[i] as number) >= Math.max(60, 0.6 * maxD)) core.push(px(i % size, Math.floor(i / size)));
  if (core.length < 8) return { color: undefined, shape: undefined, background };
  const fgc = [0, 1, 2].map((c) => median(core.map((p) => p[c] as number)));
  const color = nearest(FG_COLORS, fgc);
  const cut = 0.5 * Math.hypot(fgc[0]! - bgc[0]!, fgc[1]! - bgc[1]!, fgc[2]! - bgc[2]!);
  const mask = Uint8Array.from(dist, (d) => (d > cut ? 1 : 0));
  let x0 = size, y0 = size, x1 = -1, y1 = -1;
  for (let i = 0; i < mask.length; i++) if (mask[i]) {
    const x = i % size;
    const y = Math.floor(i / size);
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  // Try each shape at the sizes and centres that could produce this bounding
  // box, comparing only inside a window around it (both masks are empty outside).
  const win = { x0: Math.max(0, x0 - 4), y0: Math.max(0, y0 - 4), w: 0, h: 0 };
  win.w = Math.min(size, x1 + 5) - win.x0;
  win.h = Math.min(size, y1 + 5) - win.y0;
  const sub = new Uint8Array(win.w * win.h);
  for (let y = 0; y < win.h; y++) for (let x = 0; x < win.w; x++) sub[y * win.w + x] = mask[(y + win.y0) * size + x + win.x0]!;
  let shape: string | undefined;
  let bestIou = -1;
  const half = Math.max(x1 - x0 + 1, y1 - y0 + 1) / 2;
  for (const s of SHAPES) {
    for (let r = Math.floor(half * 0.9) - 1; r <= Math.ceil(half / 0.85) + 1; r += 1) {
      for (let dcx = -1; dcx <= 1; dcx++) for (let dcy = -2; dcy <= 2; dcy++) {
        const t = shapeMask(s, (x0 + x1 + 1) / 2 + dcx, (y0 + y1 + 1) / 2 + dcy, r, size, win);
        let inter = 0;
        let uni = 0;
        for (let i = 0; i < t.length; i++) {
          inter += t[i]! & sub[i]!;
          uni += t[i]! | sub[i]!;
        }
        const iou = inter / Math.max(1, uni);
        if (iou > bestIou) {
          bestIou = iou;
          shape = s;
        }
      }
    }
  }
  return { color, shape, background };
}
