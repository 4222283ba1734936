/** Completions per second over a sliding window, in one-second buckets. */
export class Throughput {
  private readonly buckets: Float64Array;
  private head = 0;
  private headSecond = Math.floor(Date.now() / 1000);

  constructor(private readonly windowSeconds = 60) {
    this.buckets = new Float64Array(windowSeconds);
  }

  add(n = 1): void {
    this.advance();
    this.buckets[this.head] = (this.buckets[this.head] ?? 0) + n;
  }

  perSecond(): number {
    this.advance();
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return sum / this.windowSeconds;
  }

  private advance(): void {
    const now = Math.floor(Date.now() / 1000);
    const steps = Math.min(now - this.headSecond, this.windowSeconds);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % this.windowSeconds;
      this.buckets[this.head] = 0;
    }
    this.headSecond = now;
  }
}
