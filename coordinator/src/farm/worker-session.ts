// One connected worker, as the coordinator sees it.
import type { ConnectResponse, Hello } from '@latentfarm/proto';

export interface WorkerLink {
  send(message: ConnectResponse): void;
  close(): void;
}

export interface Lease {
  taskId: string;
  jobId: string;
  index: number;
  epoch: number;
}

export class WorkerSession {
  /** Free slots the worker granted and we have not used yet. */
  credit = 0;
  readonly leases = new Map<string, Lease>();
  readonly models: ReadonlySet<string>;
  lastSeenMs = Date.now();
  readonly connectedUnixMs = Date.now();
  draining = false;
  imagesCompleted = 0;
  busyRatio = 0;

  constructor(readonly hello: Hello, readonly link: WorkerLink) {
    this.models = new Set(hello.models);
  }

  get id(): string {
    return this.hello.workerId;
  }
}
