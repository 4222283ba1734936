// Numeric helpers with NumPy's exact semantics, so timesteps and sigmas come
// out as diffusers computes them (its schedules are built with NumPy, then
// cast to float32 torch tensors).

/** Rounds to float32, as diffusers' `.astype(np.float32)` and torch float32 tensors do. */
export const f32 = Math.fround;

/** np.round / torch.round: halves go to the even neighbour (499.5 → 500, 498.5 → 498). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** np.linspace(start, stop, num, endpoint): value i is start + i * step, the last one exactly stop. */
export function linspace(start: number, stop: number, num: number, endpoint = true): Float64Array {
  const out = new Float64Array(num);
  const div = endpoint ? num - 1 : num;
  if (div <= 0) {
    if (num > 0) out[0] = start;
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint) out[num - 1] = stop;
  return out;
}

/** np.interp(x, np.arange(fp.length), fp): linear interpolation on the integer grid, clamped at the ends. */
export function interpOnIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0] ?? 0;
  if (x >= last) return fp[last] ?? 0;
  const j = Math.floor(x);
  const lo = fp[j] ?? 0;
  const hi = fp[j + 1] ?? 0;
  return (hi - lo) * (x - j) + lo;
}

/** Reversed copy (NumPy's `[::-1]`). */
export function reversed(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[values.length - 1 - i] ?? 0;
  return out;
}

/** Reads a typed-array element that the caller knows is in range (noUncheckedIndexedAccess). */
export function at(values: ArrayLike<number>, index: number): number {
  const value = values[index];
  if (value === undefined) throw new Error(`index ${index} out of range 0..${values.length - 1}`);
  return value;
}
