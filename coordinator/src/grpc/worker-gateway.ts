// WorkerGateway: one bidi stream per worker. The first message must be Hello;
// after that the farm handles credit, progress, results and failures. The
// caller's principal is read once, at hello; the worker's session carries it.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from '@latentfarm/common';
import type { ConnectRequest, ConnectResponse, WorkerGatewayServer } from '@latentfarm/proto';
import type { WorkerApi } from '../farm/api.js';
import type { WorkerSession } from '../farm/worker-session.js';
import { principalOf } from './principal.js';
import { helloIdentityProblem } from './worker-identity.js';

/** `mtls`: this port verified the worker's client certificate, and its hello must name it (grpc/worker-identity.ts). */
export function workerGatewayHandlers(farm: WorkerApi, log: Logger, o: { mtls: boolean } = { mtls: false }): WorkerGatewayServer {
  return {
    connect(call: ServerDuplexStream<ConnectRequest, ConnectResponse>) {
      let session: WorkerSession | undefined;
      let closed = false;
      const link = {
        send: (m: ConnectResponse) => { if (!closed) call.write(m); },
        close: () => { if (!closed) { closed = true; call.end(); } },
      };
      const end = (reason: string) => {
        if (session !== undefined) farm.dropWorker(session, reason);
        closed = true;
      };
      call.on('data', (msg: ConnectRequest) => {
        const m = msg.message;
        if (m === undefined) return;
        if (session === undefined) {
          if (m.$case !== 'hello' || m.value.workerId === '') {
            call.emit('error', { code: status.FAILED_PRECONDITION, details: 'the first message must be Hello with a worker_id' });
            return;
          }
          // Refused before attach: a hello that may not take this id must not drop the worker that holds it.
          const problem = o.mtls ? helloIdentityProblem(call, m.value.workerId) : undefined;
          if (problem !== undefined) {
            log.warn({ peer: call.getPeer(), certName: problem.certName }, `worker refused: ${problem.details}`);
            call.emit('error', problem);
            return;
          }
          session = farm.attachWorker(principalOf(call), m.value, link);
          return;
        }
        const s = session;
        switch (m.$case) {
          case 'credit': farm.grantCredit(s, m.value.slots); break;
          case 'heartbeat': farm.heartbeat(s); break;
          case 'progress': farm.recordProgress(s, m.value.steps); break;
          case 'result':
            farm.acceptResult(s, m.value).catch((err: unknown) => log.error({ err, worker: s.id }, 'result handling failed'));
            break;
          case 'failure':
            farm.acceptFailure(s, m.value).catch((err: unknown) => log.error({ err, worker: s.id }, 'failure handling failed'));
            break;
          case 'release': farm.release(s, m.value.taskIds, m.value.epochs); break;
          case 'hello': log.warn({ worker: s.id }, 'second hello ignored'); break;
        }
      });
      call.on('end', () => { end('disconnected'); call.end(); });
      call.on('error', () => end('stream_error'));
      call.on('cancelled', () => end('cancelled'));
    },
  };
}
