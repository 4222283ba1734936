// Builds the gRPC server: RenderFarm, WorkerGateway, health and reflection.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '@latentfarm/common';
import { RenderFarmService, WorkerGatewayService } from '@latentfarm/proto';
import type { ClientApi, WorkerApi } from '../farm/api.js';
import { addReflection } from './reflection.js';
import { renderFarmHandlers } from './render-farm.js';
import { workerGatewayHandlers } from './worker-gateway.js';

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface GrpcServer {
  server: Server;
  port: number;
  health: HealthImplementation;
}

export async function startGrpcServer(farm: ClientApi & WorkerApi, log: Logger, host: string, port: number): Promise<GrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': 20_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  server.addService(RenderFarmService, renderFarmHandlers(farm, log.child({ service: 'RenderFarm' })));
  server.addService(WorkerGatewayService, workerGatewayHandlers(farm, log.child({ service: 'WorkerGateway' })));
  const health = new HealthImplementation({
    '': 'SERVING', 'latentfarm.v1.RenderFarm': 'SERVING', 'latentfarm.v1.WorkerGateway': 'SERVING',
  });
  health.addToServer(server);
  addReflection(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port: bound, health };
}
