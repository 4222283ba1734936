// Seeded random numbers for initial latents and ancestral/LCM noise.
//
// Every image owns one generator built from its own seed, so its noise does
// not depend on which batch or worker it ran in (DESIGN.md: same prompt, seed
// and parameters give the same image anywhere). We use our own generator, not
// Math.random or a platform RNG, so the stream is identical on every Node
// version and machine. It is not bit-compatible with torch's generator: the
// same seed gives a different (equally valid) image than diffusers would.
//
// Generator: xoshiro128** (Blackman & Vigna), 32-bit state words, seeded by
// splitmix32 so that nearby seeds (job seed + index) give unrelated streams.

const TWO_POW_32 = 4294967296;
const TWO_POW_MINUS_24 = 1 / 16777216;
const TWO_POW_MINUS_53 = 1 / 9007199254740992;

/**
 * Largest seed this generator takes: every integer a JS number holds exactly.
 * The farm's image seeds are narrower, uint32 (@latentfarm/proto's seed
 * range), and the engines refuse others before they get here.
 */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

export class SeededRandom {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  // Box–Muller yields normals in pairs; the second waits here for the next call.
  private spareNormal = 0;
  private hasSpare = false;

  /** @param seed an integer in [0, MAX_SEED]; uint32 seeds are the common case. */
  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`);
    }
    // Fold the high word in so seeds above 2^32 differ, while a uint32 seed
    // (high word 0) seeds exactly as splitmix32(seed).
    let x = (seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_POW_32), 0x9e3779b9);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // splitmix32 cannot emit four zeros in a row, but keep xoshiro's one
    // forbidden state impossible by construction.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /**
   * A generator at a given raw xoshiro128** state, for checking against the
   * reference implementation's published outputs. Normal use: `new SeededRandom(seed)`.
   */
  static fromState(state: readonly [number, number, number, number]): SeededRandom {
    const rng = new SeededRandom(0);
    [rng.s0, rng.s1, rng.s2, rng.s3] = state.map((w) => w | 0) as [number, number, number, number];
    if ((rng.s0 | rng.s1 | rng.s2 | rng.s3) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    return rng;
  }

  /** Next raw 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits: every value is exactly a float32. */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) * TWO_POW_MINUS_24;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextDouble(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) * TWO_POW_MINUS_53;
  }

  /** Standard normal sample (Box–Muller, both outputs used). */
  nextNormal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spareNormal;
    }
    // 1 - u lies in (0, 1], so the log is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - this.nextDouble()));
    const angle = 2 * Math.PI * this.nextDouble();
    this.spareNormal = radius * Math.sin(angle);
    this.hasSpare = true;
    return radius * Math.cos(angle);
  }

  /** Fills `out` with standard normal samples, in index order, and returns it. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.nextNormal();
    return out;
  }

  /** A bound `() => number` normal source, the shape schedulers take for noise. */
  normalSource(): () => number {
    return () => this.nextNormal();
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
