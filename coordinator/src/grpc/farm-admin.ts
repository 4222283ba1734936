// FarmAdmin handlers: thin. Proto ↔ IdentityAdmin and credit grants; the secret key
// travels only in CreateKey's reply.
import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '@latentfarm/common';
import { Role, type ApiKey, type FarmAdminServer } from '@latentfarm/proto';
import type { IdentityAdmin } from '../auth/admin.js';
import type { CreditsAdminApi } from '../farm/api.js';
import type { Principal } from '../farm/principal.js';
import type { KeyRecord, Role as RoleName } from '../store/identity.js';
import { toCreditsAccount } from './credits.js';
import { principalOf } from './principal.js';
import { isInternal, toServiceError } from './status.js';

const ROLE_NAMES = new Map<Role, RoleName>([[Role.ADMIN, 'admin'], [Role.TENANT, 'tenant'], [Role.WORKER, 'worker']]);
const ROLE_ENUMS = new Map<RoleName, Role>([...ROLE_NAMES].map(([e, n]) => [n, e]));

function toApiKey(k: KeyRecord): ApiKey {
  return {
    id: k.id, role: ROLE_ENUMS.get(k.role) ?? Role.UNSPECIFIED, tenantId: k.tenantId, workerId: k.workerId, name: k.name,
    createdUnixMs: k.createdUnixMs, expiresUnixMs: k.expiresUnixMs, revokedUnixMs: k.revokedUnixMs,
  };
}

export function farmAdminHandlers(admin: IdentityAdmin, credits: CreditsAdminApi, log: Logger): FarmAdminServer {
  const unary = <Req, Res>(fn: (principal: Principal, req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      Promise.resolve().then(() => fn(principalOf(call), call.request)).then((res) => callback(null, res), (err: unknown) => {
        if (isInternal(err)) log.error({ err }, 'admin request failed');
        callback(toServiceError(err));
      });
    };

  return {
    createTenant: unary(async (p, req) => ({
      tenant: await admin.createTenant(p, req.tenantId, {
        weight: req.weight, maxQueuedImages: req.maxQueuedImages, maxRunningJobs: req.maxRunningJobs, submitsPerMinute: req.submitsPerMinute,
      }),
    })),
    updateTenant: unary(async (p, req) => ({
      // Unset optional fields arrive as undefined and keep the tenant's values.
      tenant: await admin.updateTenant(p, req.tenantId, {
        weight: req.weight, maxQueuedImages: req.maxQueuedImages, maxRunningJobs: req.maxRunningJobs, submitsPerMinute: req.submitsPerMinute,
      }),
    })),
    listTenants: unary(async (p) => ({ tenants: await admin.listTenants(p) })),
    createKey: unary(async (p, req) => {
      // An unknown role is refused by createKey, so the refusal has its audit line like any other.
      const { record, key } = await admin.createKey(p, { role: ROLE_NAMES.get(req.role), tenantId: req.tenantId, workerId: req.workerId, name: req.name, expiresUnixMs: req.expiresUnixMs });
      return { key: toApiKey(record), secretKey: key };
    }),
    listKeys: unary(async (p, req) => ({ keys: (await admin.listKeys(p, req.tenantId)).map(toApiKey) })),
    revokeKey: unary(async (p, req) => ({ key: toApiKey(await admin.revokeKey(p, req.keyId)) })),
    grantCredits: unary(async (p, req) => {
      const g = await credits.grantCredits(p, req.tenantId, req.credits, req.requestId);
      return { account: toCreditsAccount(g.account), granted: g.granted };
    }),
  };
}
