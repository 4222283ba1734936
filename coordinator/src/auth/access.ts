// Which roles may call which method: the one table of the farm's access rules,
// read by the auth interceptor before any handler runs.
import { PermissionDeniedError } from '@latentfarm/common';
import type { Principal } from '../farm/principal.js';

/** Methods anyone may call without a key: probes (kubelet, load balancers) and reflection (the schema is public). */
const PUBLIC_SERVICES = ['grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];

const ALLOWED: Readonly<Record<string, readonly Principal['kind'][]>> = {
  'latentfarm.v1.RenderFarm': ['tenant', 'admin'],
  'latentfarm.v1.WorkerGateway': ['worker'],
  'latentfarm.v1.FarmAdmin': ['admin'],
};

/** `/package.Service/Method` → `package.Service`. */
export const serviceOf = (path: string): string => path.slice(1, Math.max(1, path.lastIndexOf('/')));

export function isPublic(path: string): boolean {
  return PUBLIC_SERVICES.includes(serviceOf(path));
}

/** Throws PermissionDeniedError unless `principal` may call `path`; a service not in the table is for admins. */
export function checkAccess(principal: Principal, path: string): void {
  const service = serviceOf(path);
  const allowed = ALLOWED[service] ?? ['admin'];
  if (!allowed.includes(principal.kind)) {
    throw new PermissionDeniedError(`a ${principal.kind} key may not call ${service}: it needs a ${allowed.join(' or ')} key`);
  }
}
