// Task blocks: a job's tasks travel through the JetStream work queue in
// messages of up to TASK_BLOCK tasks each, so a job costs the server one
// publish, one delivery and one ack per block instead of per image. Each task
// of a delivered block is leased on its own (a BlockLease); the block message
// is acked once every one of its tasks is finished or has moved on to a
// message of its own.
import type { StoredLease, TaskSpec } from './store.js';

/** Tasks per message when a job is created. */
export const TASK_BLOCK = 8;
/** Epochs of one block delivery are spaced this far apart: room for the tasks of any block. */
const PARTS = 64;
/** Every block fits its epochs: blocks are TASK_BLOCK tasks at most (the tasks moved on from one are fewer). */
if (TASK_BLOCK > PARTS) throw new Error('TASK_BLOCK exceeds the epochs a block delivery has room for');

/**
 * The lease table extends every lease it holds in one pass; a delivery extended this recently is not extended
 * again, so a block costs one progress ack per pass however many of its tasks are held.
 */
const EXTENSION_PASS_MS = 20;

/** One delivery of a block message, shared by its tasks' leases. */
export class BlockDelivery {
  /** Tasks of the delivery not yet finished (or moved on). */
  private open: number;
  private extendedAtMs = -Infinity;

  constructor(readonly reply: string, readonly size: number) {
    this.open = size;
  }

  /** One task is finished or moved on; true when that was the last (the message can be acked). */
  settle(): boolean {
    this.open--;
    return this.open === 0;
  }

  /** Whether the delivery wants a progress ack now: its leases are extended together, once per round. */
  dueForExtension(nowMs: number): boolean {
    if (nowMs - this.extendedAtMs < EXTENSION_PASS_MS) return false;
    this.extendedAtMs = nowMs;
    return true;
  }
}

/** One task of a delivered block. */
export class BlockLease implements StoredLease {
  private released = false;

  constructor(readonly task: TaskSpec, readonly epoch: number, readonly delivery: BlockDelivery) {}

  /**
   * The task is finished or has moved on; counted once however often it is called. True when it was the last
   * open task of its delivery: the message can then be acked (or, alone in it, nak'ed).
   */
  release(): boolean {
    if (this.released) return false;
    this.released = true;
    return this.delivery.settle();
  }

  get isReleased(): boolean {
    return this.released;
  }
}

/** A block message's tasks: an array, or one task alone (messages of earlier versions, and requeued tasks). */
export function decodeBlock(data: unknown): TaskSpec[] {
  return Array.isArray(data) ? (data as TaskSpec[]) : [data as TaskSpec];
}

/** Unique per (message, delivery, task in it): a redelivered or requeued task never repeats an epoch. */
export function blockEpoch(streamSeq: number, delivered: number, part: number): number {
  return (streamSeq * 1000 + Math.min(delivered, 999)) * PARTS + part;
}
