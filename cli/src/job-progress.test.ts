import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlidingRate } from '@latentfarm/common';
import { FinishReason, ImageInfo, Job, JobState } from '@latentfarm/proto';
import type { WatchEvent } from '@latentfarm/client';
import { JobRate, Tally } from './job-progress.js';

const T0 = 1_700_000_000_000;

function job(o: Partial<Job> & { succeeded?: number }): Job {
  const { succeeded, ...rest } = o;
  return Job.fromPartial({
    id: 'j', state: JobState.RUNNING, images: { total: 16, succeeded: succeeded ?? 0 }, createdUnixMs: T0, startedUnixMs: T0, ...rest,
  });
}

function image(sequence: number, index: number, unixMs: number): WatchEvent {
  const info = ImageInfo.fromPartial({ id: `j/${index}`, jobId: 'j', index, finishReason: FinishReason.SUCCESS, mimeType: 'image/png' });
  return { type: 'image', sequence, unixMs, info, data: Buffer.alloc(0) };
}

describe('watch progress', () => {
  afterEach(() => vi.useRealTimers());

  it('counts a resumed watch of a finished 16-image job as 16/16, not 17/16, 18/16…', () => {
    // The job's log: QUEUED (1), RUNNING (2), 16 images (3–18), SUCCEEDED (19). `watch --after 15` replays 16–19.
    const t = new Tally(job({ succeeded: 16, state: JobState.SUCCEEDED, lastSequence: 19 }));
    for (let seq = 16; seq <= 18; seq++) {
      t.see(image(seq, seq - 3, T0 + seq));
      expect(t.done).toBe(16);
    }
    t.see({ type: 'state', sequence: 19, unixMs: T0 + 19, state: JobState.SUCCEEDED, counts: { total: 16, succeeded: 16, failed: 0, cancelled: 0, running: 0 }, reason: '' });
    expect(t.done).toBe(16);
  });

  it('counts images committed after the watch began on top of the counts GetJob gave', () => {
    const t = new Tally(job({ succeeded: 5, lastSequence: 7 }));
    t.see(image(6, 3, T0)); // replayed: in GetJob's 5 already
    t.see(image(8, 5, T0));
    t.see(image(9, 6, T0));
    expect(t.done).toBe(7);
  });

  it('gives a steady job the rate the farm reports for it (5 images/s), replayed or live', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    // The farm's figure (GetFarmStatus): the coordinator's Throughput, a SlidingRate started with the farm.
    vi.setSystemTime(T0);
    const farm = new SlidingRate(60_000);
    for (let ms = 200; ms <= 20_000; ms += 200) {
      vi.setSystemTime(T0 + ms);
      farm.add();
    }
    // A watch started now replays those 100 images at once; its figure must not be 100 images in a few ms.
    const replayed = new JobRate(job({}), false);
    for (let i = 1; i <= 100; i++) replayed.see(image(2 + i, i, T0 + i * 200));
    expect(farm.perSecond()).toBeCloseTo(5, 1);
    expect(replayed.perSecond).toBeCloseTo(farm.perSecond(), 1);
  });
});
