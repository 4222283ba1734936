// One connected worker, as the coordinator sees it.
import type { ConnectResponse, Hello } from '@latentfarm/proto';
import type { StoredLease } from '../store/store.js';
import type { Principal } from './principal.js';

export interface WorkerLink {
  send(message: ConnectResponse): void;
  /** Ends the stream: cleanly, or with `error` as its status (mapped in grpc/status.ts). */
  close(error?: Error): void;
}

/** A lease as this coordinator tracks it. */
export interface HeldLease {
  readonly taskId: string;
  readonly session: WorkerSession;
  readonly stored: StoredLease;
  /**
   * The worker reported a step of it. Only a started lease that is lost counts
   * against its image's loss budget: a worker that vanishes with prefetched,
   * untouched leases says nothing about those images.
   */
  started: boolean;
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

  /**
   * @param key who strikes count against (quarantine.ts)
   * @param creditCap most tasks it may hold plus be owed (hello-check.ts)
   */
  constructor(readonly principal: Principal, readonly hello: Hello, readonly link: WorkerLink, readonly key: string, readonly creditCap: number) {
    this.models = new Set(hello.models);
  }

  get id(): string {
    return this.hello.workerId;
  }
}
