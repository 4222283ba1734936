// A token bucket: `perMinute` tokens a minute, holding at most `burst`. Pure;
// the caller passes the time, so tests need no clock.
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(private perMinute: number, private burst: number, nowMs: number) {
    this.tokens = burst;
    this.atMs = nowMs;
  }

  /** Changes the rate and size (a tenant's quota was updated); tokens already held stay, up to the new size. */
  resize(perMinute: number, burst: number): void {
    this.perMinute = perMinute;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Takes a token: 0 when there was one, else the milliseconds until there is (nothing is taken). */
  take(nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 60_000) / this.perMinute);
  }

  private refill(nowMs: number): void {
    if (nowMs > this.atMs) this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.atMs) * this.perMinute) / 60_000);
    this.atMs = Math.max(this.atMs, nowMs);
  }
}
