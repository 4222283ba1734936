// A Farm on a real embedded store in a temp folder, and fake worker links that
// record what the farm sends, for the farm's own tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, Registry } from '@latentfarm/common';
import { ImageFormat, Scheduler, type ConnectResponse, type Hello, type JobSpec, type PromptEntry, type Task } from '@latentfarm/proto';
import { defaultCoordinatorConfig, type CoordinatorConfig } from '../config.js';
import { coordinatorMetrics } from '../metrics.js';
import { FairShare } from '../scheduling/fair-share.js';
import type { SharePolicy } from '../scheduling/share-policy.js';
import { EmbeddedStore } from '../store/embedded.js';
import { Farm } from './farm.js';

export interface TestFarm {
  farm: Farm;
  registry: Registry;
  close(): Promise<void>;
}

export async function testFarm(policy: SharePolicy = new FairShare(), config: Partial<CoordinatorConfig> = {}): Promise<TestFarm> {
  const dir = await mkdtemp(join(tmpdir(), 'farm-test-'));
  const registry = new Registry();
  const store = new EmbeddedStore(dir);
  const farm = new Farm(defaultCoordinatorConfig({ dataDir: dir, ...config }), store, coordinatorMetrics(registry), createLogger('t', 'silent'), policy);
  return {
    farm, registry,
    async close() {
      farm.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const hello = (id: string): Hello => ({ workerId: id, models: ['sim'], maxBatch: 4, provider: 'sim', device: '', engine: 'sim', version: '', modelDefaults: [] });

export const spec = (size = 64): JobSpec => ({
  model: 'sim', priority: 0, labels: {}, idempotencyKey: '',
  params: { width: size, height: size, steps: 2, scheduler: Scheduler.UNSPECIFIED, outputFormat: ImageFormat.PNG },
});

export const prompts = (n: number): PromptEntry[] => Array.from({ length: n }, (_, i) => ({ prompt: `p${i}`, negativePrompt: '', images: 1 }));

/** A worker's end of the Connect stream: keeps every message the farm sent. */
export function link() {
  const sent: ConnectResponse[] = [];
  return {
    sent,
    closed: false,
    send(m: ConnectResponse) { sent.push(m); },
    close() { this.closed = true; },
    /** Each lease message's tasks, in order. */
    leases(): Task[][] { return sent.flatMap((m) => (m.message?.$case === 'lease' ? [m.message.value.tasks] : [])); },
    leased(): Task[] { return this.leases().flat(); },
  };
}

export const result = (t: Task, image = 'png') => ({ taskId: t.taskId, epoch: t.epoch, image: Buffer.from(image), mimeType: 'image/png' });
