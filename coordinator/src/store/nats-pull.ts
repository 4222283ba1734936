// A non-blocking pull from a JetStream consumer: ask for up to `batch`
// messages with no_wait and take what is there now. nats.js's fetch() waits
// at least a second for a batch to fill, which would stall the coordinator's
// dispatch loop on every job that has nothing left to lease.
import type { JetStreamManager, MsgRequest, StoredMsg } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';

export interface Pulled {
  readonly messages: Msg[];
  /** The server never said it was done: some messages may still be in flight to us (they redeliver, or are skipped). */
  readonly timedOut: boolean;
  /** A status other than "no (more) messages", e.g. 409 when the consumer went away. */
  readonly status?: { code: number; description: string };
}

/** Pulls up to `batch` messages that are ready now. Ends on the server's 404/408 status, a full batch, or `timeoutMs`. */
export async function pullNow(nc: NatsConnection, stream: string, consumer: string, batch: number, timeoutMs: number): Promise<Pulled> {
  const messages: Msg[] = [];
  if (batch <= 0) return { messages, timedOut: false };
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: batch + 1 });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    sub.unsubscribe();
  }, timeoutMs);
  let status: Pulled['status'];
  try {
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify({ batch, no_wait: true }), { reply: inbox });
    for await (const m of sub) {
      const code = m.headers?.code ?? 0;
      if (code !== 0 && m.data.length === 0) {
        // 404 No Messages / 408 Request Timeout end a no_wait pull; 100 is a heartbeat.
        if (code === 100) continue;
        if (code !== 404 && code !== 408) status = { code, description: m.headers?.description ?? '' };
        break;
      }
      messages.push(m);
      if (messages.length >= batch) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return status === undefined ? { messages, timedOut } : { messages, timedOut, status };
}

/** Where a JetStream message sits: its stream sequence and how often it was delivered, from its ack subject. */
export function ackInfo(reply: string | undefined): { streamSeq: number; delivered: number } {
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> (v1, 9 tokens), or the
  // v2 form with <domain>.<account hash> after ACK and a random token at the end (12 tokens).
  const t = (reply ?? '').split('.');
  const base = t.length === 9 ? 4 : t.length >= 12 ? 6 : -1;
  if (t[0] !== '$JS' || t[1] !== 'ACK' || base < 0) throw new Error(`not a JetStream ack subject: "${reply ?? ''}"`);
  return { delivered: Number(t[base]), streamSeq: Number(t[base + 1]) };
}

/**
 * The stream's first message on `subject` (wildcards allowed) at or after sequence `seq`, or null: a plain stream
 * request answered by the stream's leader, with no consumer involved.
 */
export function nextBySubject(jsm: JetStreamManager, stream: string, seq: number, subject: string): Promise<StoredMsg | null> {
  // The server (2.9+) takes next_by_subj in a stream message request; the client's type for it leaves it out.
  return jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
}
