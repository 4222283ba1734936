// The fault cases of the JetStream suite (durability-cases.ts) on the embedded
// store: one coordinator whose SQLite database and images are in its data dir,
// SIGKILLed and restarted on it mid-job; workers killed; one idempotency key
// submitted 50 times at once. Every image reaches the watcher exactly once.
import { describe, it } from 'vitest';
import { coordinatorKilledFiveTimes, oneJobPerKey, workersKilledTenTimes } from './durability-cases.js';
import { startEmbeddedFarm, stopsAfterEachTest, workersConnected, TEST_BUDGET_MS } from './durability.js';

describe('durability on the embedded store (2,000 images, 4 sim workers)', () => {
  const stopped = stopsAfterEachTest();

  it('loses and duplicates nothing when the coordinator is SIGKILLed 5 times', async () => {
    await coordinatorKilledFiveTimes(stopped(await startEmbeddedFarm({ metered: true })));
  }, TEST_BUDGET_MS);

  it('loses and duplicates nothing when workers are SIGKILLed 10 times', async () => {
    await workersKilledTenTimes(stopped(await startEmbeddedFarm({ metered: true })));
  }, TEST_BUDGET_MS);

  it('makes one job of the same idempotency key submitted 50 times at once', async () => {
    const f = stopped(await startEmbeddedFarm());
    const c = f.coordinators[0]!;
    await workersConnected(c, [0, 1, 2, 3].map(() => f.addWorker(c)));
    await oneJobPerKey(f);
  }, TEST_BUDGET_MS);
});
