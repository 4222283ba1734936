// The admin SDK: tenants, API keys and credit grants (FarmAdmin), with promises and deadlines.
// Every call needs an admin key.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  FarmAdminClient, Role, type ApiKey, type CreateKeyResponse, type CreditsAccount, type Tenant,
} from '@latentfarm/proto';
import { apiKeyOptions } from './api-key.js';

export { Role };
export type { ApiKey, CreditsAccount, Tenant };

export interface AdminClientOptions {
  /** Deadline of each call. */
  deadlineMs?: number;
  /** An admin key; default LATENTFARM_API_KEY. */
  apiKey?: string;
  /** Connect over TLS, verifying the coordinator against `ca` (PEM), or the system's CAs without it. */
  tls?: { ca?: Buffer };
}

/** A tenant's weight and quotas; unset keeps the value (on create: the farm's default), 0 sets the farm's default. */
export interface TenantSettings {
  /** Its share of the workers beside other tenants with waiting images. */
  weight?: number;
  /** Images submitted and not yet finished. */
  maxQueuedImages?: number;
  /** Jobs not yet finished (queued or running). */
  maxRunningJobs?: number;
  /** Submits a minute, per coordinator. */
  submitsPerMinute?: number;
}

export interface NewKey {
  role: Role;
  tenantId?: string;
  workerId?: string;
  name?: string;
  /** 0 or unset: never. */
  expiresUnixMs?: number;
}

export class AdminClient {
  readonly raw: FarmAdminClient;
  private readonly deadlineMs: number;

  constructor(readonly address: string, options: AdminClientOptions = {}) {
    const channel = options.tls === undefined ? credentials.createInsecure() : credentials.createSsl(options.tls.ca ?? null);
    this.raw = new FarmAdminClient(address, channel, apiKeyOptions(options.apiKey ?? process.env['LATENTFARM_API_KEY']));
    this.deadlineMs = options.deadlineMs ?? 30_000;
  }

  close(): void {
    this.raw.close();
  }

  private call<Req, Res>(method: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      method.call(this.raw, req, new Metadata(), { deadline: new Date(Date.now() + this.deadlineMs) }, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  async createTenant(tenantId: string, settings: TenantSettings = {}): Promise<Tenant> {
    return (await this.call(this.raw.createTenant, {
      tenantId, weight: settings.weight ?? 0, maxQueuedImages: settings.maxQueuedImages ?? 0, maxRunningJobs: settings.maxRunningJobs ?? 0,
      submitsPerMinute: settings.submitsPerMinute ?? 0,
    })).tenant as Tenant;
  }

  /** Changes the settings given; the others keep their values. */
  async updateTenant(tenantId: string, settings: TenantSettings): Promise<Tenant> {
    return (await this.call(this.raw.updateTenant, {
      tenantId, weight: settings.weight, maxQueuedImages: settings.maxQueuedImages, maxRunningJobs: settings.maxRunningJobs, submitsPerMinute: settings.submitsPerMinute,
    })).tenant as Tenant;
  }

  async listTenants(): Promise<Tenant[]> {
    return (await this.call(this.raw.listTenants, {})).tenants;
  }

  /** The new key's record and, once, the key itself (`secretKey`). */
  createKey(k: NewKey): Promise<CreateKeyResponse> {
    return this.call(this.raw.createKey, { role: k.role, tenantId: k.tenantId ?? '', workerId: k.workerId ?? '', name: k.name ?? '', expiresUnixMs: k.expiresUnixMs ?? 0 });
  }

  async listKeys(tenantId = ''): Promise<ApiKey[]> {
    return (await this.call(this.raw.listKeys, { tenantId })).keys;
  }

  async revokeKey(keyId: string): Promise<ApiKey> {
    return (await this.call(this.raw.revokeKey, { keyId })).key as ApiKey;
  }

  /** Gives a tenant credits; the account after the grant. Not retried: a retry could grant twice. */
  async grantCredits(tenantId: string, credits: number): Promise<CreditsAccount> {
    return (await this.call(this.raw.grantCredits, { tenantId, credits })).account as CreditsAccount;
  }
}
