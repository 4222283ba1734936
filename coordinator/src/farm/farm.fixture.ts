// A Farm on a real embedded store in a temp folder, and fake worker links that
// record what the farm sends, for the farm's own tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, Registry } from '@latentfarm/common';
import { ImageFormat, Scheduler, type ConnectResponse, type Hello, type JobSpec, type PromptEntry, type Task } from '@latentfarm/proto';
import { defaultCoordinatorConfig, type CoordinatorConfig } from '../config.js';
import { coordinatorMetrics } from '../metrics.js';
import type { TenantDirectory } from '../quota/tenant-directory.js';
import type { SharePolicy } from '../scheduling/share-policy.js';
import { TenantShare } from '../scheduling/tenant-share.js';
import { EmbeddedLedger } from '../ledger/ledger-embedded.js';
import { EmbeddedStore } from '../store/embedded.js';
import { EmbeddedIdentityStore } from '../store/identity-embedded.js';
import { tenantRecord } from '../store/identity.js';
import { Farm, type FarmAccounts } from './farm.js';
import { LOCAL_ADMIN } from './principal.js';

export interface TestFarm {
  farm: Farm;
  /** The farm's store, for tests that look at what it holds. */
  store: EmbeddedStore;
  /** Tenants and credits of the farm, to make a tenant that can pay. */
  identity: EmbeddedIdentityStore;
  ledger: EmbeddedLedger;
  registry: Registry;
  close(): Promise<void>;
}

/** `tenants`: the tenants' weights and quotas (default: every tenant gets the config's defaults). */
export async function testFarm(policy: SharePolicy = new TenantShare(), config: Partial<CoordinatorConfig> = {}, tenants?: TenantDirectory): Promise<TestFarm> {
  const dir = await mkdtemp(join(tmpdir(), 'farm-test-'));
  const registry = new Registry();
  const store = new EmbeddedStore(dir);
  const accounts = embeddedAccounts(store);
  const { identity, ledger } = accounts;
  const farm = new Farm(defaultCoordinatorConfig({ dataDir: dir, ...config }), store, coordinatorMetrics(registry), createLogger('t', 'silent'), policy, accounts, tenants);
  return {
    farm, registry, identity, ledger, store,
    async close() {
      farm.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Makes tenants with credits to spend, for tests whose subject is not the ledger (a tenant's submit reserves credits). */
export async function fundTenants(t: TestFarm, ids: readonly string[], credits = 1_000_000): Promise<void> {
  for (const id of ids) {
    await t.identity.createTenant(tenantRecord({ id, createdUnixMs: Date.now() }));
    await t.farm.grantCredits(LOCAL_ADMIN, id, credits);
  }
}

/** Tenants and the ledger in the embedded store's database, as the coordinator keeps them. */
export function embeddedAccounts(store: EmbeddedStore): FarmAccounts & { identity: EmbeddedIdentityStore; ledger: EmbeddedLedger } {
  const identity = new EmbeddedIdentityStore(store.database);
  return { identity, ledger: new EmbeddedLedger(store.database), tenantExists: async (id) => (await identity.getTenant(id)) !== undefined };
}

/** A sim worker's hello; it may hold 2 × maxBatch tasks (creditCap). */
export const hello = (id: string, maxBatch = 4): Hello => ({ workerId: id, models: ['sim'], maxBatch, provider: 'sim', device: '', engine: 'sim', version: '', modelDefaults: [] });

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

/** Bytes of the PNG head pngWith writes before its tag. */
export const PNG_HEAD_BYTES = 33;

/**
 * A PNG head (signature and IHDR) declaring `width`×`height`, then `tag`: what
 * the coordinator's result check reads (it parses headers only), with bytes a
 * test can recognise (tagOf).
 */
export function pngWith(tag: string, width: number, height: number): Buffer {
  const head = Buffer.alloc(PNG_HEAD_BYTES);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head, 0);
  head.writeUInt32BE(13, 8);
  head.write('IHDR', 12, 'latin1');
  head.writeUInt32BE(width, 16);
  head.writeUInt32BE(height, 20);
  head.writeUInt8(8, 24); // bit depth; colour type, compression, filter, interlace 0; the CRC is not checked
  return Buffer.concat([head, Buffer.from(tag)]);
}

export const tagOf = (data: Uint8Array | undefined): string => Buffer.from(data ?? []).subarray(PNG_HEAD_BYTES).toString();

/** A result for the lease: a PNG of the leased size carrying `tag`. */
export const result = (t: Task, tag = 'png') => ({
  taskId: t.taskId, epoch: t.epoch, image: pngWith(tag, t.params?.width ?? 0, t.params?.height ?? 0), mimeType: 'image/png',
});
