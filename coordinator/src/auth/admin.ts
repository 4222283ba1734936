// Tenants and keys, as admins manage them. Every action is checked against
// the caller's role here too (the interceptor already did; a second caller of
// this class must not be able to skip it) and leaves exactly one audit line,
// whatever its outcome: `outcome` is `ok` or the kind of error that ended it
// (`permission_denied`, `invalid_argument`, `not_found`, `already_exists`, …).
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, type Logger } from '@latentfarm/common';
import type { Principal } from '../farm/principal.js';
import { tenantRecord, type IdentityStore, type KeyRecord, type Role, type TenantPatch, type TenantRecord } from '../store/identity.js';
import { RESERVED_TENANT_IDS } from '../tenant-labels.js';
import { AUDIT_ECHO_CHARS, auditedAdminAction, type AuditFields } from './audit.js';
import { generateKey } from './keys.js';

const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** Worker ids are what workers send in hello: printable, no spaces, bounded. */
const WORKER_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_NAME_CHARS = 200;
/** Bounds of a tenant's weight and quotas (0: the farm's default); the quotas' bounds only keep sums exact. */
const MAX_TENANT_WEIGHT = 1_000;
const MAX_QUOTA = Number.MAX_SAFE_INTEGER;

/** A tenant's weight and quotas as an admin sets them; an absent field keeps its value (0: the farm's default). */
export type TenantSettings = TenantPatch;

/** Called with a tenant created or changed through this coordinator (so its limits count here at once). */
export type TenantChanged = (tenant: TenantRecord) => void;

export interface NewKeyRequest {
  /** Undefined: the request named no role the farm knows (refused, and audited like any other refusal). */
  role: Role | undefined;
  tenantId: string;
  workerId: string;
  name: string;
  /** 0: never. */
  expiresUnixMs: number;
}

export class IdentityAdmin {
  constructor(private readonly store: IdentityStore, private readonly audit: Logger, private readonly onTenantChanged: TenantChanged = () => undefined) {}

  private audited<T>(principal: Principal, action: string, fields: AuditFields, run: () => Promise<T>, result?: (r: T) => AuditFields): Promise<T> {
    return auditedAdminAction(this.audit, principal, action, fields, run, result);
  }

  createTenant(principal: Principal, id: string, settings: TenantSettings = {}): Promise<TenantRecord> {
    return this.audited(principal, 'tenant_create', { tenant: id.slice(0, AUDIT_ECHO_CHARS), ...settings }, async () => {
      if (!TENANT_ID.test(id)) throw new InvalidArgumentError('tenant_id', `"${id.slice(0, 70)}" is not a tenant id: 1-63 lowercase letters, digits and "-", not starting or ending with "-"`);
      if (RESERVED_TENANT_IDS.includes(id)) throw new InvalidArgumentError('tenant_id', `"${id}" is reserved: the per-tenant metrics use it for admins' jobs and for tenants past --max-tenant-labels`);
      checkSettings(settings);
      const tenant = tenantRecord({ ...settings, id, createdUnixMs: Date.now() });
      if (!(await this.store.createTenant(tenant))) throw new AlreadyExistsError(`tenant "${id}" exists already`);
      this.onTenantChanged(tenant);
      return tenant;
    });
  }

  /** Changes the weight and quotas `settings` names; the rest keep their values. */
  updateTenant(principal: Principal, id: string, settings: TenantSettings): Promise<TenantRecord> {
    return this.audited(principal, 'tenant_update', { tenant: id.slice(0, AUDIT_ECHO_CHARS), ...settings }, async () => {
      checkSettings(settings);
      const tenant = TENANT_ID.test(id) ? await this.store.updateTenant(id, settings) : undefined;
      if (tenant === undefined) throw new NotFoundError(`tenant "${id.slice(0, 70)}" does not exist: create it first (latentfarm tenant create)`);
      this.onTenantChanged(tenant);
      return tenant;
    });
  }

  listTenants(principal: Principal): Promise<TenantRecord[]> {
    return this.audited(principal, 'tenant_list', {}, () => this.store.listTenants());
  }

  /** The new key's record and the key itself, which exists nowhere else once returned. */
  createKey(principal: Principal, req: NewKeyRequest): Promise<{ record: KeyRecord; key: string }> {
    const asked = { role: req.role ?? 'unknown', tenant: req.tenantId.slice(0, AUDIT_ECHO_CHARS) || undefined, worker: req.workerId.slice(0, AUDIT_ECHO_CHARS) || undefined };
    return this.audited(principal, 'key_create', asked, async () => {
      const role = await this.check(req);
      const made = generateKey();
      const record: KeyRecord = {
        id: made.keyId, role, tenantId: role === 'tenant' ? req.tenantId : '', workerId: role === 'worker' ? req.workerId : '',
        hash: made.hash, name: req.name, createdUnixMs: Date.now(), expiresUnixMs: req.expiresUnixMs, revokedUnixMs: 0,
      };
      // 64 random bits of id: a collision is as good as impossible, and createKey refuses one rather than overwrite.
      if (!(await this.store.createKey(record))) throw new AlreadyExistsError(`key id ${record.id} exists already; try again`);
      return { record, key: made.key };
    }, ({ record }) => ({ keyId: record.id, expiresUnixMs: record.expiresUnixMs || undefined }));
  }

  /** The role of a valid request; throws naming the field otherwise. */
  private async check(req: NewKeyRequest): Promise<Role> {
    if (req.role === undefined) throw new InvalidArgumentError('role', 'name one: ROLE_ADMIN, ROLE_TENANT or ROLE_WORKER');
    if (req.name.length > MAX_NAME_CHARS) throw new InvalidArgumentError('name', `${req.name.length} characters, at most ${MAX_NAME_CHARS}`);
    if (req.expiresUnixMs !== 0 && req.expiresUnixMs <= Date.now()) throw new InvalidArgumentError('expires_unix_ms', 'is in the past');
    if (req.role === 'tenant') {
      if (req.workerId !== '') throw new InvalidArgumentError('worker_id', 'only a worker key names a worker');
      if ((await this.store.getTenant(req.tenantId)) === undefined) throw new NotFoundError(`tenant "${req.tenantId.slice(0, 70)}" does not exist: create it first (latentfarm tenant create)`);
    } else if (req.role === 'worker') {
      if (req.tenantId !== '') throw new InvalidArgumentError('tenant_id', 'only a tenant key names a tenant');
      if (!WORKER_ID.test(req.workerId)) throw new InvalidArgumentError('worker_id', 'a worker key needs the worker id it may connect as (1-128 of A-Z a-z 0-9 . _ : -)');
    } else if (req.tenantId !== '' || req.workerId !== '') {
      throw new InvalidArgumentError(req.tenantId !== '' ? 'tenant_id' : 'worker_id', 'an admin key names no tenant or worker');
    }
    return req.role;
  }

  listKeys(principal: Principal, tenantId: string): Promise<KeyRecord[]> {
    return this.audited(principal, 'key_list', { tenant: tenantId.slice(0, AUDIT_ECHO_CHARS) || undefined }, async () => {
      const keys = await this.store.listKeys();
      return tenantId === '' ? keys : keys.filter((k) => k.tenantId === tenantId);
    });
  }

  revokeKey(principal: Principal, keyId: string): Promise<KeyRecord> {
    return this.audited(principal, 'key_revoke', { keyId: keyId.slice(0, AUDIT_ECHO_CHARS) }, async () => {
      const record = /^[0-9a-f]{16}$/.test(keyId) ? await this.store.revokeKey(keyId, Date.now()) : undefined;
      if (record === undefined) throw new NotFoundError(`API key "${keyId.slice(0, 70)}" does not exist (give the key id, the 16 hex digits after "lf_")`);
      return record;
    }, (record) => ({ role: record.role, tenant: record.tenantId || undefined }));
  }
}

function checkSettings(s: TenantSettings): void {
  const fields: [string, number | undefined, number][] = [
    ['weight', s.weight, MAX_TENANT_WEIGHT], ['max_queued_images', s.maxQueuedImages, MAX_QUOTA],
    ['max_running_jobs', s.maxRunningJobs, MAX_QUOTA], ['submits_per_minute', s.submitsPerMinute, MAX_QUOTA],
  ];
  for (const [field, v, max] of fields) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) {
      throw new InvalidArgumentError(field, `${v} is not an integer from 0 (the farm's default) to ${max}`);
    }
  }
}
