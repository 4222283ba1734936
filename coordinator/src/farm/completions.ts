// Images this coordinator committed: a running count and the sliding rate
// GetFarmStatus reports. The committer adds, the status reads.
import { Throughput } from './throughput.js';

export class Completions {
  private count = 0;
  private readonly rate = new Throughput();

  add(): void {
    this.count++;
    this.rate.add();
  }

  get total(): number {
    return this.count;
  }

  perSecond(): number {
    return this.rate.perSecond();
  }
}
