// Builds the gRPC server: RenderFarm, WorkerGateway, health and reflection.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@latentfarm/common';
import { FarmAdminService, RenderFarmService, WorkerGatewayService } from '@latentfarm/proto';
import type { IdentityAdmin } from '../auth/admin.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ClientApi, WorkerApi } from '../farm/api.js';
import { authInterceptor } from './auth-interceptor.js';
import { farmAdminHandlers } from './farm-admin.js';
import { addReflection } from './reflection.js';
import { renderFarmHandlers } from './render-farm.js';
import { workerGatewayHandlers } from './worker-gateway.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface GrpcServer {
  server: Server;
  port: number;
  health: HealthImplementation;
}

export interface GrpcIdentity {
  /** Undefined: a farm without auth, where every caller is the local admin. */
  readonly authenticator: Authenticator | undefined;
  readonly admin: IdentityAdmin;
  /** Audit lines: refused keys and admin actions. */
  readonly audit: Logger;
}

export async function startGrpcServer(farm: ClientApi & WorkerApi, identity: GrpcIdentity, log: Logger, host: string, port: number): Promise<GrpcServer> {
  const server = new Server({
    // Every call of every service passes here first: the one place credentials are read.
    interceptors: [authInterceptor(identity.authenticator, identity.audit)],
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  server.addService(RenderFarmService, renderFarmHandlers(farm, log.child({ service: 'RenderFarm' })));
  server.addService(WorkerGatewayService, workerGatewayHandlers(farm, log.child({ service: 'WorkerGateway' })));
  server.addService(FarmAdminService, farmAdminHandlers(identity.admin, log.child({ service: 'FarmAdmin' })));
  const health = new HealthImplementation({
    '': 'SERVING', 'latentfarm.v1.RenderFarm': 'SERVING', 'latentfarm.v1.WorkerGateway': 'SERVING',
    'latentfarm.v1.FarmAdmin': 'SERVING',
  });
  health.addToServer(server);
  addReflection(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port: bound, health };
}
