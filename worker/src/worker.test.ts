// The worker's side of the Connect stream as a coordinator sees it on the wire.
// The coordinator here is a scripted WorkerGateway on loopback that leases a
// batch and records what comes back, so the messages themselves can be checked.
import { once } from 'node:events';
import { Server, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, Registry } from '@latentfarm/common';
import { ImageFormat, Scheduler, WorkerGatewayService, type ConnectRequest, type ConnectResponse, type Task } from '@latentfarm/proto';
import { defaultWorkerConfig } from './config.js';
import { startWorker } from './main.js';
import type { Worker } from './worker.js';

type Sent = NonNullable<ConnectRequest['message']>;

/** A coordinator that welcomes one worker, leases `tasks` on its first credit, and records every message it sends. */
async function scriptedCoordinator(tasks: Task[]) {
  const received: Sent[] = [];
  const arrived = new EventTarget();
  const server = new Server();
  server.addService(WorkerGatewayService, {
    connect(call: ServerDuplexStream<ConnectRequest, ConnectResponse>) {
      call.on('data', (m: ConnectRequest) => {
        if (m.message === undefined) return;
        received.push(m.message);
        arrived.dispatchEvent(new Event('message'));
        if (m.message.$case === 'hello') call.write({ message: { $case: 'welcome', value: { heartbeatIntervalMs: 60_000, leaseTtlMs: 600_000 } } });
        if (m.message.$case === 'credit' && received.filter((x) => x.$case === 'credit').length === 1) {
          call.write({ message: { $case: 'lease', value: { tasks } } });
        }
      });
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err)));
  });
  return {
    address: `127.0.0.1:${port}`,
    received,
    /** Resolves once `done` holds for the messages received so far. */
    async until(done: (messages: readonly Sent[]) => boolean): Promise<void> {
      while (!done(received)) await once(arrived, 'message');
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

const task = (i: number): Task => ({
  taskId: `job/${i}`, epoch: 1, jobId: 'job', model: 'sim', prompt: `shape ${i}`, negativePrompt: '',
  params: { width: 8, height: 8, steps: 2, cfgScale: 1, scheduler: Scheduler.UNSPECIFIED, seed: i, outputFormat: ImageFormat.PNG },
});

describe('worker credit', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('grants the slots of a batch that finished together in one credit message', async () => {
    const batch = [0, 1, 2, 3].map(task);
    const coordinator = await scriptedCoordinator(batch);
    stops.push(coordinator.close);
    const worker: Worker = await startWorker(defaultWorkerConfig({
      coordinator: [coordinator.address], id: 'credit-test', engine: 'sim', models: ['sim'], maxBatch: batch.length, prefetch: 0,
      simStepBaseMs: 1, simStepPerImageMs: 0, metricsPort: -1,
    }), { log: createLogger('test', 'silent'), registry: new Registry() });
    stops.push(() => worker.close());
    const credits = (ms: readonly Sent[]) => ms.flatMap((m) => (m.$case === 'credit' ? [m.value.slots] : []));
    // The first credit is the whole batch on welcome; then the four slots come back once the four images are done.
    await coordinator.until((ms) => credits(ms).slice(1).reduce((a, b) => a + b, 0) >= batch.length);
    expect(coordinator.received.filter((m) => m.$case === 'result')).toHaveLength(batch.length);
    expect(credits(coordinator.received)).toEqual([batch.length, batch.length]);
  });
});
