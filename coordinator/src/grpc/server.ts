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
import { tolerant } from './malformed.js';
import { addReflection } from './reflection.js';
import { renderFarmHandlers } from './render-farm.js';
import { workerGatewayHandlers } from './worker-gateway.js';

/** Largest message sent: a ListJobs page stays under 4 MiB and images go in 1 MB chunks, so this is a backstop. */
const MAX_SEND_BYTES = 64 * 1024 * 1024;

export interface GrpcLimits {
  /** Largest message accepted (--max-message-bytes): bigger ones are refused by grpc-js with RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
}

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

export async function startGrpcServer(farm: ClientApi & WorkerApi, identity: GrpcIdentity, log: Logger, host: string, port: number, limits: GrpcLimits): Promise<GrpcServer> {
  const server = new Server({
    // Every call of every service passes here first: the one place credentials are read.
    interceptors: [authInterceptor(identity.authenticator, identity.audit)],
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_send_message_length': MAX_SEND_BYTES,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  const renderFarm = tolerant(RenderFarmService, renderFarmHandlers(farm, log.child({ service: 'RenderFarm' })), { watchJob: 'after_sequence' });
  server.addService(renderFarm.definition, renderFarm.handlers);
  const gateway = tolerant(WorkerGatewayService, workerGatewayHandlers(farm, log.child({ service: 'WorkerGateway' })), { connect: 'epoch' });
  server.addService(gateway.definition, gateway.handlers);
  const admin = tolerant(FarmAdminService, farmAdminHandlers(identity.admin, log.child({ service: 'FarmAdmin' })));
  server.addService(admin.definition, admin.handlers);
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
