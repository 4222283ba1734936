// Builds the gRPC server: RenderFarm, WorkerGateway, health and reflection;
// with a worker port (--worker-port), a second server with the WorkerGateway
// and health alone, so it can require client certificates (grpc/tls.ts).
import { Server, type ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@latentfarm/common';
import { FarmAdminService, RenderFarmService, WorkerGatewayService } from '@latentfarm/proto';
import type { IdentityAdmin } from '../auth/admin.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ClientApi, CreditsAdminApi, WorkerApi } from '../farm/api.js';
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
  /** The WorkerGateway's own server and port, when it has one. */
  workers: { server: Server; port: number } | undefined;
  health: HealthImplementation;
}

export interface Listen {
  host: string;
  port: number;
  credentials: ServerCredentials;
}

export interface GrpcListen {
  clients: Listen;
  /** Undefined: workers connect on the clients' port. */
  workers: Listen | undefined;
  /** The worker port verifies client certificates: a hello must name the certificate's worker. */
  mtls: boolean;
}

export interface GrpcIdentity {
  /** Undefined: a farm without auth, where every caller is the local admin. */
  readonly authenticator: Authenticator | undefined;
  /** Tenants and keys; it writes the audit line of each admin action (the authenticator, of each refused key). */
  readonly admin: IdentityAdmin;
}

const newServer = (identity: GrpcIdentity, limits: GrpcLimits) =>
  new Server({
    // Every call of every service passes here first: the one place credentials are read.
    interceptors: [authInterceptor(identity.authenticator)],
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_send_message_length': MAX_SEND_BYTES,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });

/** Binds the client port, then the worker port if any; a bind that fails stops what was started and throws, naming the port. */
export async function startGrpcServer(farm: ClientApi & WorkerApi & CreditsAdminApi, identity: GrpcIdentity, log: Logger, listen: GrpcListen, limits: GrpcLimits): Promise<GrpcServer> {
  const server = newServer(identity, limits);
  const workerServer = listen.workers === undefined ? server : newServer(identity, limits);
  const renderFarm = tolerant(RenderFarmService, renderFarmHandlers(farm, log.child({ service: 'RenderFarm' })), { watchJob: 'after_sequence' });
  server.addService(renderFarm.definition, renderFarm.handlers);
  const gateway = tolerant(WorkerGatewayService, workerGatewayHandlers(farm, log.child({ service: 'WorkerGateway' }), { mtls: listen.mtls }), { connect: 'epoch' });
  workerServer.addService(gateway.definition, gateway.handlers);
  const admin = tolerant(FarmAdminService, farmAdminHandlers(identity.admin, farm, log.child({ service: 'FarmAdmin' })));
  server.addService(admin.definition, admin.handlers);
  const health = new HealthImplementation({
    '': 'SERVING', 'latentfarm.v1.RenderFarm': 'SERVING', 'latentfarm.v1.WorkerGateway': 'SERVING',
    'latentfarm.v1.FarmAdmin': 'SERVING',
  });
  health.addToServer(server);
  addReflection(server);
  const port = await bind(server, listen.clients);
  if (listen.workers === undefined) return { server, port, workers: undefined, health };
  health.addToServer(workerServer);
  try {
    const workerPort = await bind(workerServer, listen.workers);
    return { server, port, workers: { server: workerServer, port: workerPort }, health };
  } catch (err) {
    server.forceShutdown();
    throw new WorkerPortError(err);
  }
}

/** A failure to bind the worker port (as opposed to the client port), so the start can name --worker-port. */
export class WorkerPortError extends Error {
  constructor(override readonly cause: unknown) {
    super('cannot bind the worker port', { cause });
    this.name = 'WorkerPortError';
  }
}

function bind(server: Server, l: Listen): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(`${l.host}:${l.port}`, l.credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
}
