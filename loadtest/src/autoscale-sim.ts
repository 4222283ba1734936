// The autoscaling simulator: replays a day of arrivals (autoscale-arrivals.ts)
// against the ScaledObject's scaling rule (autoscale-rule.ts), second by
// second, with GPU nodes that take time to provision, workers that take time
// to load their model, drains on scale-in and nodes that cluster-autoscaler
// removes only after they sat idle. Deterministic, no I/O.
//
// Simplifications, each on the side of the real farm's behaviour:
// - Service is a fluid: each ready worker renders `imagesPerWorkerS`.
// - Diurnal images are served before burst images. The coordinator's fair
//   share splits workers evenly across jobs, and the diurnal traffic is many
//   small jobs, so a 100,000-image job gets a small share while they wait.
// - Waits are measured from arrival to the start of rendering (queue wait).
import { DAY_S, type Arrivals } from './autoscale-arrivals.js';
import { evaluateRule, initialRuleState, type ScalingSettings } from './autoscale-rule.js';

export type QueryKind = 'queued' | 'demand';

export interface FarmModel {
  /** Images per second one GPU worker renders at full batch. */
  readonly imagesPerWorkerS: number;
  /** Images a worker leases ahead (max batch + prefetch): the coordinator counts them leased, not queued. */
  readonly leasedPerWorker: number;
  /** A new GPU node: request to kubelet ready (cluster-autoscaler + cloud + driver). */
  readonly nodeProvisionS: number;
  /** Pod start to first lease on a ready node: image pull from the node cache, model load, session warm-up. */
  readonly modelLoadS: number;
  /** After SIGTERM a worker finishes its running batch: the GPU stays busy this long. */
  readonly drainS: number;
  /** cluster-autoscaler's scale-down-unneeded-time: an idle GPU node is billed this long before it goes. */
  readonly nodeIdleRemoveS: number;
  /** Age of the value KEDA sees: scrape interval + the query's window edge. */
  readonly metricLagS: number;
  /** KEDA pollingInterval / HPA sync period. */
  readonly evaluateEveryS: number;
}

export interface SimSettings extends ScalingSettings {
  readonly query: QueryKind;
  /** demand: seconds of work in flight per worker, the τ in queued + τ·rate(completed). */
  readonly demandS: number;
}

export interface SimResult {
  readonly settings: SimSettings;
  readonly gpuHours: number;
  readonly imagesPerGpuHour: number;
  /** Queue wait, seconds: diurnal (interactive) images and all images. */
  readonly waitP50S: number;
  readonly waitP95S: number;
  readonly allWaitP50S: number;
  readonly allWaitP95S: number;
  /** Longest time from a burst's arrival to its last image rendering. */
  readonly burstDoneS: number;
  readonly peakReplicas: number;
  /** Images of the second day still waiting a day after it ended (a rule that never catches up). */
  readonly unfinished: number;
  /** Per minute of the measured day: arrivals/s, ready workers, queued images, GPU nodes. */
  readonly timeline: ReadonlyArray<{ minute: number; arrivalsPerS: number; workers: number; queued: number; nodes: number }>;
}

class Cohorts {
  private at: number[] = [];
  private n: number[] = [];
  private head = 0;
  size = 0;
  push(atS: number, count: number): void {
    if (count <= 0) return;
    this.at.push(atS);
    this.n.push(count);
    this.size += count;
  }
  /** Takes up to `count` images, oldest first; calls `served(arrivalS, k)` for each part. */
  take(count: number, served: (arrivalS: number, k: number) => void): number {
    let left = count;
    while (left > 0 && this.head < this.at.length) {
      const have = this.n[this.head] ?? 0;
      const k = Math.min(have, left);
      served(this.at[this.head] ?? 0, k);
      left -= k;
      this.size -= k;
      if (k === have) this.head++; else this.n[this.head] = have - k;
    }
    if (this.head > 4096) { this.at = this.at.slice(this.head); this.n = this.n.slice(this.head); this.head = 0; }
    return count - left;
  }
}

/** Seconds-resolution histogram of waits, weighted by images. */
class WaitHistogram {
  private readonly bins = new Float64Array(2 * DAY_S + 1);
  private total = 0;
  add(waitS: number, k: number): void {
    const i = Math.min(this.bins.length - 1, Math.max(0, Math.round(waitS)));
    this.bins[i] = (this.bins[i] ?? 0) + k;
    this.total += k;
  }
  quantile(q: number): number {
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i] ?? 0;
      if (seen >= q * this.total) return i;
    }
    return this.bins.length - 1;
  }
}

interface Pod { readyAtS: number }

/**
 * Simulates two identical days and measures the second, so the farm starts
 * the measured day in the state the previous night left it in. GPU-hours are
 * those of the second day's 24 hours (a steady day: what the first night
 * carried into it stands for what it carries into the next). Images of the
 * second day still waiting at its end are rendered in a tail without new
 * arrivals, so their waits count too (slightly optimistic: the next day's
 * first images would compete with them).
 */
export function simulateDay(arrivals: Arrivals, farm: FarmModel, settings: SimSettings): SimResult {
  const endS = 2 * DAY_S;
  const tailS = DAY_S;
  const diurnal = new Cohorts();
  const burst = new Cohorts();
  const waits = new WaitHistogram();
  const allWaits = new WaitHistogram();
  const rule = initialRuleState();
  const pods: Pod[] = [];
  const idleNodesSince: number[] = [];
  const drainingUntil: number[] = [];
  const metric = new Float64Array(endS + tailS + 1);
  const completedAt = new Float64Array(endS + tailS + 1); // cumulative completions, for rate()
  const timeline: Array<{ minute: number; arrivalsPerS: number; workers: number; queued: number; nodes: number }> = [];
  const burstLeft = new Map<number, number>();
  let burstDoneS = 0;
  let gpuSeconds = 0;
  let measuredImages = 0;
  let completed = 0;
  let carry = 0;
  let peakReplicas = 0;
  let minuteArrivals = 0;
  const rateWindowS = 120;

  for (let t = 0; t < endS + tailS; t++) {
    if (t >= endS && diurnal.size + burst.size === 0) break;
    const day = t < DAY_S ? 0 : t < endS ? 1 : 2; // 2: the tail
    const sOfDay = t - day * DAY_S;
    const arriving = day === 2 ? 0 : arrivals.background[sOfDay] ?? 0;
    diurnal.push(t, arriving);
    minuteArrivals += arriving;
    if (day === 1) measuredImages += arriving;
    for (const b of arrivals.burstAtS) {
      if (b === sOfDay && day < 2) {
        burst.push(t, arrivals.burstImages);
        if (day === 1) { measuredImages += arrivals.burstImages; burstLeft.set(t, arrivals.burstImages); }
      }
    }

    // Render: ready workers, diurnal images first.
    const ready = pods.reduce((n, p) => n + (p.readyAtS <= t ? 1 : 0), 0);
    carry += ready * farm.imagesPerWorkerS;
    const capacity = Math.floor(carry);
    carry -= capacity;
    const record = (arrivalS: number, k: number) => {
      if (arrivalS >= DAY_S) {
        waits.add(t - arrivalS, k);
        allWaits.add(t - arrivalS, k);
      }
    };
    let done = diurnal.take(capacity, record);
    done += burst.take(capacity - done, (arrivalS, k) => {
      if (arrivalS >= DAY_S) {
        allWaits.add(t - arrivalS, k);
        const left = (burstLeft.get(arrivalS) ?? 0) - k;
        burstLeft.set(arrivalS, left);
        if (left === 0) burstDoneS = Math.max(burstDoneS, t - arrivalS);
      }
    });
    if (ready === 0 || done < capacity) carry = 0; // an idle worker banks no capacity
    completed += done;
    completedAt[t] = completed;

    // What the coordinator exports, and what KEDA's query returns.
    const waiting = diurnal.size + burst.size;
    const queued = Math.max(0, waiting - farm.leasedPerWorker * ready);
    const rate = (completed - (completedAt[Math.max(0, t - rateWindowS)] ?? 0)) / Math.min(rateWindowS, Math.max(1, t));
    metric[t] = settings.query === 'queued' ? queued : queued + settings.demandS * rate;

    if (t % farm.evaluateEveryS === 0) {
      const seen = metric[Math.max(0, t - farm.metricLagS)] ?? 0;
      const want = evaluateRule(settings, rule, t, seen);
      scaleTo(want, t);
    }

    // Nodes: draining ones become idle, idle ones are removed after a while.
    for (let i = drainingUntil.length - 1; i >= 0; i--) {
      if ((drainingUntil[i] ?? 0) <= t) { drainingUntil.splice(i, 1); idleNodesSince.push(t); }
    }
    while (idleNodesSince.length > 0 && t - (idleNodesSince[0] ?? t) >= farm.nodeIdleRemoveS) idleNodesSince.shift();
    const nodes = pods.length + drainingUntil.length + idleNodesSince.length;
    if (day === 1) gpuSeconds += nodes;
    peakReplicas = Math.max(peakReplicas, pods.length);
    if (t % 60 === 59 && day < 2) {
      if (day === 1) timeline.push({ minute: Math.floor(sOfDay / 60), arrivalsPerS: minuteArrivals / 60, workers: ready, queued, nodes });
      minuteArrivals = 0;
    }
  }

  function scaleTo(want: number, t: number): void {
    while (pods.length < want) {
      // A pod lands on an idle GPU node if there is one (model load only), else waits for a new node.
      const reuse = idleNodesSince.pop() !== undefined;
      pods.push({ readyAtS: t + farm.modelLoadS + (reuse ? 0 : farm.nodeProvisionS) });
    }
    if (pods.length > want) {
      // The ReplicaSet deletes pods that are not ready first, then the newest.
      pods.sort((a, b) => b.readyAtS - a.readyAtS);
      for (const p of pods.splice(0, pods.length - want)) {
        if (p.readyAtS > t) idleNodesSince.push(t); // its node (if it had one yet) is free at once
        else drainingUntil.push(t + farm.drainS);
      }
    }
  }

  const gpuHours = gpuSeconds / 3600;
  return {
    settings,
    gpuHours,
    imagesPerGpuHour: measuredImages / Math.max(1e-9, gpuHours),
    waitP50S: waits.quantile(0.5),
    waitP95S: waits.quantile(0.95),
    allWaitP50S: allWaits.quantile(0.5),
    allWaitP95S: allWaits.quantile(0.95),
    burstDoneS,
    peakReplicas,
    unfinished: diurnal.size + burst.size,
    timeline,
  };
}
