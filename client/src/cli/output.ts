// The CLI's output layer: results on stdout, progress on stderr. The only
// place in the project that writes to the console directly.

export const print = (line: string): void => { process.stdout.write(`${line}\n`); };
export const printErr = (line: string): void => { process.stderr.write(`${line}\n`); };

/** A one-line progress bar on a terminal; a line every few seconds otherwise. */
export class ProgressBar {
  private readonly started = Date.now();
  private lastPrint = 0;
  private readonly tty = process.stderr.isTTY;

  constructor(private readonly label: string, private total: number) {}

  private lastDone = -1;

  update(done: number, failed: number, stepInfo = ''): void {
    const now = Date.now();
    if (now - this.lastPrint < (this.tty ? 100 : 2000) && done < this.total) return;
    if (done === this.lastDone && done >= this.total) return; // the final line once
    this.lastPrint = now;
    this.lastDone = done;
    const width = 30;
    const frac = this.total > 0 ? done / this.total : 1;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const secs = (now - this.started) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? Math.ceil((this.total - done) / rate) : 0;
    const line = `${this.label} ${bar} ${done}/${this.total} images${failed > 0 ? ` (${failed} failed)` : ''}  ${rate.toFixed(1)} img/s  eta ${eta}s ${stepInfo}`;
    if (this.tty) process.stderr.write(`\r${line.padEnd(process.stderr.columns - 1 || 100)}`);
    else process.stderr.write(`${line}\n`);
  }

  setTotal(total: number): void {
    this.total = total;
  }

  finish(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
