// The CLI's output layer: results on stdout, progress and notices on stderr.
// The only place in the project that writes to the console directly.

export const print = (line: string): void => { process.stdout.write(`${line}\n`); };
export const printErr = (line: string): void => { process.stderr.write(`${line}\n`); };

/** One JSON document per line, as a message's proto3 JSON form (the generated `toJSON`) gives it. */
export const printJson = (json: unknown): void => { print(JSON.stringify(json)); };

/** A one-line progress bar on a terminal; a line every few seconds otherwise. */
export class ProgressBar {
  private lastPrint = 0;
  private lastDone = -1;
  private readonly tty = process.stderr.isTTY;

  constructor(private readonly label: string, private total: number) {}

  /** `perSecond`: the job's images per second over `windowSeconds` (SlidingRate), the figure `status` reports for the farm. */
  update(done: number, failed: number, perSecond: number, windowSeconds: number, stepInfo = '', final = false): void {
    const now = Date.now();
    if (!final && now - this.lastPrint < (this.tty ? 100 : 2000) && done < this.total) return;
    if (done === this.lastDone && (done >= this.total || final)) return; // the final line once
    this.lastPrint = now;
    this.lastDone = done;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const eta = perSecond > 0 ? Math.ceil((this.total - done) / perSecond) : 0;
    const rate = `${perSecond.toFixed(1)} img/s (last ${Math.round(windowSeconds)} s)`;
    const line = `${this.label} ${bar} ${done}/${this.total} images${failed > 0 ? ` (${failed} failed)` : ''}  ${rate}  eta ${eta}s ${stepInfo}`;
    if (this.tty) process.stderr.write(`\r${line.padEnd(process.stderr.columns - 1 || 100)}`);
    else process.stderr.write(`${line}\n`);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  finish(): void {
    if (this.tty && this.lastDone >= 0) process.stderr.write('\n');
  }
}
