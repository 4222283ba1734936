// Who is calling. Every farm method a handler calls takes one as its first
// argument, decided once per call by the server's auth interceptor
// (grpc/auth-interceptor.ts) from the call's API key; handlers never parse
// credentials. The farm's job lookups (JobTable.find) narrow a tenant's view
// to its own jobs.
export type Principal =
  /** Everything, plus tenants and keys. `keyId` 'local' is the caller of a farm run without auth (`up`, `serve --no-auth`). */
  | { readonly kind: 'admin'; readonly keyId: string }
  /** Its own jobs only. */
  | { readonly kind: 'tenant'; readonly tenantId: string; readonly keyId: string }
  /** The WorkerGateway only, as the one worker id its key is bound to. */
  | { readonly kind: 'worker'; readonly workerId: string; readonly keyId: string };

/** Every caller of a farm without auth: `up`, the demo and `serve --no-auth` run as a local admin. */
export const LOCAL_ADMIN: Principal = Object.freeze({ kind: 'admin', keyId: 'local' });

/** The owner recorded on a job an admin submits (and read for jobs from before owners existed). */
export const ADMIN_OWNER = '';

/** The owner a job submitted by `principal` gets. */
export function ownerOf(principal: Principal): string {
  return principal.kind === 'tenant' ? principal.tenantId : ADMIN_OWNER;
}

/** Whether `principal` may see a job owned by `owner`: admins see every job, tenants their own, workers none. */
export function maySee(principal: Principal, owner: string | undefined): boolean {
  if (principal.kind === 'admin') return true;
  return principal.kind === 'tenant' && owner === principal.tenantId;
}
