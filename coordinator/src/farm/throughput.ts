import { SlidingRate } from '@latentfarm/common';

/**
 * The farm's completions per second, as GetFarmStatus reports them: images
 * committed in the last 60 s over 60 s, or over the time since this
 * coordinator started when that is shorter. The CLI's watch measures a job
 * the same way (SlidingRate), so on a steady farm the two figures agree.
 */
export class Throughput extends SlidingRate {
  constructor() {
    super(60_000);
  }
}
