// The admin SDK: tenants, API keys and credit grants (FarmAdmin), with promises and deadlines.
// Every call needs an admin key.
import { randomUUID } from 'node:crypto';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  FarmAdminClient, Role, type ApiKey, type CreateKeyResponse, type CreditsAccount, type Tenant,
} from '@latentfarm/proto';
import { apiKeyOptions } from './api-key.js';
import { retryUnavailable, type RetryInfo, type RetryPolicy } from './retry.js';

export { Role };
export type { ApiKey, CreditsAccount, Tenant };

export interface AdminClientOptions {
  /** Deadline of each call, retries included. */
  deadlineMs?: number;
  /** Most attempts of a retryable call (grantCredits) on UNAVAILABLE (default: as many as fit before the deadline). */
  retries?: number;
  /** Told before each retry. */
  onRetry?: (retry: RetryInfo) => void;
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

/** What a grant did. */
export interface CreditsGrant {
  /** The account after the grant; when `granted` is false, as it is now. */
  account: CreditsAccount;
  /** False when the request id named a grant made before (a retry whose first answer was lost): nothing was granted again. */
  granted: boolean;
  /** The id the grant was sent with: send it again (`grantCredits(…, { requestId })`) to retry this very grant. */
  requestId: string;
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
  private readonly retryPolicy: RetryPolicy;

  constructor(readonly address: string, options: AdminClientOptions = {}) {
    const channel = options.tls === undefined ? credentials.createInsecure() : credentials.createSsl(options.tls.ca ?? null);
    this.raw = new FarmAdminClient(address, channel, apiKeyOptions(options.apiKey ?? process.env['LATENTFARM_API_KEY']));
    this.deadlineMs = options.deadlineMs ?? 30_000;
    this.retryPolicy = { retries: options.retries ?? Infinity, onRetry: options.onRetry };
  }

  close(): void {
    this.raw.close();
  }

  private call<Req, Res>(
    method: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown, req: Req,
    retryAs?: string,
  ): Promise<Res> {
    const deadline = new Date(Date.now() + this.deadlineMs);
    const once = () => new Promise<Res>((resolve, reject) => {
      method.call(this.raw, req, new Metadata(), { deadline }, (err, res) => (err ? reject(err) : resolve(res)));
    });
    return retryAs === undefined ? once() : retryUnavailable(retryAs, deadline, this.retryPolicy, once);
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

  /**
   * Gives a tenant credits. Every grant carries a request id (a fresh one unless given), so it is retried on
   * UNAVAILABLE: the coordinator makes a grant once per id and tenant (for at least the tenant's last 64 grants).
   */
  async grantCredits(tenantId: string, credits: number, options: { requestId?: string } = {}): Promise<CreditsGrant> {
    const requestId = options.requestId ?? randomUUID();
    const r = await this.call(this.raw.grantCredits, { tenantId, credits, requestId }, 'GrantCredits');
    return { account: r.account as CreditsAccount, granted: r.granted, requestId };
  }
}
