// The seed range, end to end: every seed is a uint32 (the wire's type), and
// an image's seed is its first seed plus its offset, modulo 2^32. So a job
// seeded near the top wraps round to 0, 1, … instead of being refused, and
// every layer (coordinator, worker engines, CLI) accepts exactly this range.

export const MAX_SEED = 0xffffffff;
const SEEDS = 0x100000000;

export const isSeed = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= MAX_SEED;

/** The seed `offset` images after `first`, wrapping modulo 2^32. */
export function offsetSeed(first: number, offset: number): number {
  if (!isSeed(first)) throw new RangeError(`seed ${first} is outside 0..${MAX_SEED}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`seed offset ${offset} is not a non-negative integer`);
  return (first + (offset % SEEDS)) % SEEDS;
}
