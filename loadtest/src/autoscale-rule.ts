// The scaling rule of a KEDA ScaledObject with a Prometheus trigger, as KEDA
// and the HorizontalPodAutoscaler it drives apply it, with no I/O so the day
// simulator (autoscale-sim.ts) and its unit test can step it.
//
// What it models (KEDA 2.x, autoscaling/v2 defaults unless the ScaledObject
// overrides them):
// - At 0 replicas KEDA polls the query; a value above `activation` scales the
//   target to 1 and the HPA takes over from there.
// - At 1 or more the HPA, every sync period, wants ceil(value / target)
//   (AverageValue of an External metric: the total divided by the target),
//   leaves the count alone within its 10% tolerance, scales up by at most
//   max(100%, 4 pods) per 15 s, and scales down only to the highest
//   recommendation of the last `scaleDownWindowS` (stabilization).
// - The HPA never goes below 1; KEDA takes it to 0 once the value has stayed
//   at or below `activation` for `cooldownS`.

export interface ScalingSettings {
  /** Queued images (the query's value) per worker: the ScaledObject trigger's `threshold`. */
  readonly target: number;
  /** The trigger's `activationThreshold`: above it the target leaves (or stays off) zero. */
  readonly activation: number;
  /** The ScaledObject's `cooldownPeriod`, seconds: how long the value must stay idle before 0 replicas. */
  readonly cooldownS: number;
  /** `maxReplicaCount`. */
  readonly maxReplicas: number;
  /** `advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds`. */
  readonly scaleDownWindowS: number;
}

export const HPA_TOLERANCE = 0.1;
export const HPA_SCALE_UP_PERIOD_S = 15;

export interface RuleState {
  replicas: number;
  /** Last time the value was above `activation` (KEDA's "last active"). */
  lastActiveS: number;
  /** HPA recommendations of the stabilization window: [time, replicas]. */
  recommendations: Array<[number, number]>;
  /** The last scale-up and the replica count it started from (rate limit). */
  lastScaleUpS: number;
}

export const initialRuleState = (): RuleState => ({ replicas: 0, lastActiveS: -Infinity, recommendations: [], lastScaleUpS: -Infinity });

/** One evaluation at `nowS` with the query's current `value`; returns the replica count it sets. */
export function evaluateRule(s: ScalingSettings, st: RuleState, nowS: number, value: number): number {
  const active = value > s.activation;
  if (active) st.lastActiveS = nowS;
  if (st.replicas === 0) {
    if (active) {
      st.replicas = 1;
      st.recommendations = [[nowS, 1]];
    }
    return st.replicas;
  }
  if (!active && nowS - st.lastActiveS >= s.cooldownS) {
    st.replicas = 0;
    st.recommendations = [];
    return 0;
  }
  const current = st.replicas;
  const ratio = value / (s.target * current);
  let desired = Math.abs(ratio - 1) <= HPA_TOLERANCE ? current : Math.ceil(value / s.target);
  desired = Math.min(s.maxReplicas, Math.max(1, desired));
  st.recommendations.push([nowS, desired]);
  while (st.recommendations.length > 0 && (st.recommendations[0]?.[0] ?? nowS) < nowS - s.scaleDownWindowS) st.recommendations.shift();
  if (desired < current) {
    // Scale down only to the highest recommendation of the window.
    desired = Math.min(current, Math.max(...st.recommendations.map(([, r]) => r)));
  } else if (desired > current) {
    const upLimit = Math.max(2 * current, current + 4);
    desired = Math.min(desired, upLimit);
    if (nowS - st.lastScaleUpS < HPA_SCALE_UP_PERIOD_S) desired = current;
    else st.lastScaleUpS = nowS;
  }
  st.replicas = desired;
  return desired;
}
