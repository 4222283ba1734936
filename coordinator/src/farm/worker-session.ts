// One connected worker, as the coordinator sees it.
import type { ConnectResponse, Hello } from '@latentfarm/proto';
import type { StoredLease } from '../store/store.js';
import type { Principal } from './principal.js';

export interface WorkerLink {
  send(message: ConnectResponse): void;
  close(): void;
}

/** A lease as this coordinator tracks it. */
export interface HeldLease {
  readonly taskId: string;
  readonly session: WorkerSession;
  readonly stored: StoredLease;
}

export class WorkerSession {
  /** Free slots the worker granted and we have not used yet. */
  credit = 0;
  readonly leases = new Map<string, HeldLease>();
  readonly models: ReadonlySet<string>;
  lastSeenMs = Date.now();
  readonly connectedUnixMs = Date.now();
  draining = false;
  imagesCompleted = 0;

  constructor(readonly principal: Principal, readonly hello: Hello, readonly link: WorkerLink) {
    this.models = new Set(hello.models);
  }

  get id(): string {
    return this.hello.workerId;
  }
}
