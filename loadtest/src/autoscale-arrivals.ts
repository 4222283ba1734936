// A day of image arrivals for the autoscaling simulator: a diurnal curve whose
// peak is `peakToMean` times its mean, Poisson per second, plus bursts (one
// job of many prompts arriving at once), all from one seed.

export interface ArrivalSpec {
  /** Images per day, bursts included (the seed service: 1.7 M). */
  readonly imagesPerDay: number;
  /** Peak rate over mean rate of the diurnal part (about 3). */
  readonly peakToMean: number;
  /** Hour of the day of the peak. */
  readonly peakHour: number;
  /** Bursts per day and images per burst (100,000-prompt jobs). */
  readonly bursts: number;
  readonly burstImages: number;
  readonly seed: number;
}

export interface Arrivals {
  /** Images arriving in second i of the day, diurnal traffic. */
  readonly background: Int32Array;
  /** Second of the day of each burst. */
  readonly burstAtS: readonly number[];
  readonly burstImages: number;
}

export const DAY_S = 86_400;

/** mulberry32: small, fast and good enough for a simulation; the same seed gives the same day. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function poisson(rand: () => number, mean: number): number {
  if (mean > 30) {
    // Normal approximation (Box-Muller): the exact method costs `mean` draws.
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = rand();
  while (p > l) { k++; p *= rand(); }
  return k;
}

/**
 * The diurnal shape exp(k·cos(2π(h − peak)/24)), normalised to mean 1; k is
 * found so that the peak is `peakToMean` (k ≈ 1.9 for 3×): a smooth day with
 * a quiet night, never negative.
 */
export function diurnalShape(peakToMean: number, peakHour: number): (s: number) => number {
  const meanOf = (k: number): number => {
    let sum = 0;
    for (let i = 0; i < 1440; i++) sum += Math.exp(k * Math.cos((2 * Math.PI * i) / 1440));
    return sum / 1440;
  };
  let lo = 0;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (Math.exp(mid) / meanOf(mid) < peakToMean) lo = mid; else hi = mid;
  }
  const k = lo;
  const mean = meanOf(k);
  return (s) => Math.exp(k * Math.cos((2 * Math.PI * (s / 3600 - peakHour)) / 24)) / mean;
}

export function generateArrivals(spec: ArrivalSpec): Arrivals {
  const rand = seededRandom(spec.seed);
  const shape = diurnalShape(spec.peakToMean, spec.peakHour);
  const meanRate = (spec.imagesPerDay - spec.bursts * spec.burstImages) / DAY_S;
  const background = new Int32Array(DAY_S);
  for (let s = 0; s < DAY_S; s++) background[s] = poisson(rand, meanRate * shape(s));
  const burstAtS = Array.from({ length: spec.bursts }, () => Math.floor(rand() * DAY_S)).sort((a, b) => a - b);
  return { background, burstAtS, burstImages: spec.burstImages };
}
