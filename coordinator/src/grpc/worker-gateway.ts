// WorkerGateway: one bidi stream per worker. The first message must be Hello;
// after that the farm handles credit, progress, results and failures. The
// caller's principal is read once, at hello; the worker's session carries it.
// A hello the farm refuses (out of bounds, a quarantined worker) and a message
// that does not decode end the stream with their status.
import type { ServerDuplexStream, ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from '@latentfarm/common';
import type { ConnectRequest, ConnectResponse, WorkerGatewayServer } from '@latentfarm/proto';
import type { WorkerApi } from '../farm/api.js';
import type { WorkerSession } from '../farm/worker-session.js';
import { isMalformed } from './malformed.js';
import { principalOf } from './principal.js';
import { helloIdentityProblem } from './worker-identity.js';
import { toServiceError } from './status.js';

/** `mtls`: this port verified the worker's client certificate, and its hello must name it (grpc/worker-identity.ts). */
export function workerGatewayHandlers(farm: WorkerApi, log: Logger, o: { mtls: boolean } = { mtls: false }): WorkerGatewayServer {
  return {
    connect(call: ServerDuplexStream<ConnectRequest, ConnectResponse>) {
      let session: WorkerSession | undefined;
      let closed = false;
      const fail = (details: Partial<ServiceError>) => {
        if (closed) return;
        closed = true;
        call.emit('error', details);
      };
      const link = {
        send: (m: ConnectResponse) => { if (!closed) call.write(m); },
        close: (error?: Error) => {
          if (error !== undefined) fail(toServiceError(error));
          else if (!closed) { closed = true; call.end(); }
        },
      };
      const end = (reason: string) => {
        if (session !== undefined) farm.dropWorker(session, reason);
        closed = true;
      };
      call.on('data', (msg: ConnectRequest) => {
        if (closed) return;
        if (isMalformed(msg)) {
          // The stream's 'error' listener below drops the worker: its leases go back as any lost worker's do.
          fail({ code: status.INVALID_ARGUMENT, details: msg.message });
          return;
        }
        const m = msg.message;
        if (m === undefined) return;
        if (session === undefined) {
          if (m.$case !== 'hello' || m.value.workerId === '') {
            fail({ code: status.FAILED_PRECONDITION, details: 'the first message must be Hello with a worker_id' });
            return;
          }
          // Refused before attach: a hello that may not take this id must not drop the worker that holds it.
          const problem = o.mtls ? helloIdentityProblem(call, m.value.workerId) : undefined;
          if (problem !== undefined) {
            log.warn({ audit: 'worker_refused', peer: call.getPeer(), certName: problem.certName }, `worker refused: ${problem.details}`);
            fail({ code: problem.code, details: problem.details });
            return;
          }
          try {
            session = farm.attachWorker(principalOf(call), m.value, link);
          } catch (err) {
            fail(toServiceError(err));
          }
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
