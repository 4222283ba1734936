// Tenants and keys on JetStream: one KV bucket, <P>_IDENTITY, with
// `tenant.<id>` and `key.<key id>` entries (JSON). KV create refuses an entry
// that exists, so two coordinators cannot make the same tenant or key twice;
// a revocation is a compare-and-set update, read by every coordinator on the
// next call that presents the key. Console sessions live in a second bucket,
// <P>_SESSIONS, whose maximum age (MAX_SESSION_TTL_MS) removes the entries of
// sessions that expired without a log-out. It has its own NATS connection, so it
// shares nothing with the job store but the server.
import { backoffMs, sleep, type Logger } from '@latentfarm/common';
import { JetStreamApiError, StorageType, jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { MAX_SESSION_TTL_MS, tenantRecord, type IdentityStore, type KeyRecord, type SessionRecord, type TenantPatch, type TenantRecord } from './identity.js';

export interface JetStreamIdentityOptions {
  url: string;
  prefix: string;
  replicas: number;
  timeoutMs: number;
  log: Logger;
}

/** KV create of an existing entry and a stale update answer with this API code. */
const WRONG_LAST_SEQUENCE = 10071;
const enc = new TextEncoder();
const dec = new TextDecoder();

const isConflict = (err: unknown): boolean => err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE;

/** The patch without the fields it leaves out (an explicit undefined must not overwrite a value). */
function definedOnly(patch: TenantPatch): TenantPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as TenantPatch;
}

export class JetStreamIdentityStore implements IdentityStore {
  private constructor(private readonly nc: NatsConnection, private readonly kv: KV, private readonly sessions: KV) {}

  static async connect(o: JetStreamIdentityOptions): Promise<JetStreamIdentityStore> {
    const nc = await connect({
      servers: o.url.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      name: 'latentfarm-coordinator-identity',
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      timeout: Math.min(o.timeoutMs, 5_000),
    });
    const kvm = new Kvm(jetstream(nc, { timeout: o.timeoutMs }));
    // JetStream may still be starting (a restarted server recovers its streams first): wait, as the job store does.
    for (let i = 0; ; i++) {
      try {
        const bucket = { history: 1, replicas: o.replicas, storage: StorageType.File, timeout: o.timeoutMs };
        const kv = await kvm.create(`${o.prefix.toUpperCase()}_IDENTITY`, bucket);
        const sessions = await kvm.create(`${o.prefix.toUpperCase()}_SESSIONS`, { ...bucket, ttl: MAX_SESSION_TTL_MS });
        return new JetStreamIdentityStore(nc, kv, sessions);
      } catch (err) {
        o.log.warn({ err: (err as Error).message }, 'identity bucket not ready yet; retrying');
        await sleep(backoffMs(i, 200, 2_000));
      }
    }
  }

  private async create(key: string, value: unknown): Promise<boolean> {
    try {
      await this.kv.create(key, enc.encode(JSON.stringify(value)));
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  private async read<T>(key: string): Promise<{ value: T; revision: number } | undefined> {
    const e = await this.kv.get(key);
    if (e === null || e.operation !== 'PUT') return undefined;
    return { value: JSON.parse(dec.decode(e.value)) as T, revision: e.revision };
  }

  private async all<T>(prefix: string): Promise<T[]> {
    const names: string[] = [];
    for await (const k of await this.kv.keys(`${prefix}.>`)) names.push(k);
    const out: T[] = [];
    for (const k of names) {
      const e = await this.read<T>(k);
      if (e !== undefined) out.push(e.value);
    }
    return out;
  }

  createTenant(t: TenantRecord): Promise<boolean> {
    return this.create(`tenant.${t.id}`, t);
  }

  async getTenant(id: string): Promise<TenantRecord | undefined> {
    const e = await this.read<TenantRecord>(`tenant.${id}`);
    return e === undefined ? undefined : tenantRecord(e.value);
  }

  async listTenants(): Promise<TenantRecord[]> {
    return (await this.all<TenantRecord>('tenant')).map(tenantRecord).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Compare-and-set on the entry's revision, so two coordinators' updates to different fields both land. */
  async updateTenant(id: string, patch: TenantPatch): Promise<TenantRecord | undefined> {
    for (;;) {
      const e = await this.read<TenantRecord>(`tenant.${id}`);
      if (e === undefined) return undefined;
      const updated = tenantRecord({ ...tenantRecord(e.value), ...definedOnly(patch) });
      try {
        await this.kv.update(`tenant.${id}`, enc.encode(JSON.stringify(updated)), e.revision);
        return updated;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  createKey(k: KeyRecord): Promise<boolean> {
    return this.create(`key.${k.id}`, k);
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    return (await this.read<KeyRecord>(`key.${id}`))?.value;
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.all<KeyRecord>('key')).sort((a, b) => a.createdUnixMs - b.createdUnixMs || a.id.localeCompare(b.id));
  }

  async revokeKey(id: string, unixMs: number): Promise<KeyRecord | undefined> {
    for (;;) {
      const e = await this.read<KeyRecord>(`key.${id}`);
      if (e === undefined) return undefined;
      if (e.value.revokedUnixMs !== 0) return e.value;
      const revoked = { ...e.value, revokedUnixMs: unixMs };
      try {
        await this.kv.update(`key.${id}`, enc.encode(JSON.stringify(revoked)), e.revision);
        return revoked;
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
  }

  async createSession(x: SessionRecord): Promise<void> {
    await this.sessions.put(x.id, enc.encode(JSON.stringify(x)));
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const e = await this.sessions.get(id);
    return e === null || e.operation !== 'PUT' ? undefined : JSON.parse(dec.decode(e.value)) as SessionRecord;
  }

  async deleteSession(id: string): Promise<void> {
    // Purge, not delete: no tombstone history is wanted for a session.
    await this.sessions.purge(id);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}
