// Request/reply for the job store's hot path: JetStream publishes and stream
// requests, answered on one wildcard inbox subscription, with one timeout for
// all requests checked by one sweep. nats.js's request() builds an Error
// (stack included) when it completes any request, even a successful one, and
// arms a timer and a promise race for each: a tenth of the coordinator's CPU
// at 1,500 JetStream publishes a second. The errors here keep nats.js's names
// (TimeoutError; RequestError for no responders), which the store treats as
// transient.
import { JetStreamApiError, type PubAck } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError, createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node';

export interface JsPublishOptions {
  /** Nats-Msg-Id: the stream stores a message with an id it saw in its duplicate window only once. */
  msgID?: string;
  /** Nats-Expected-Last-Subject-Sequence: stored only if the subject's last message has this sequence (0: none). */
  lastSubjectSequence?: number;
  /** Nats-Rollup: "sub" replaces the subject's earlier messages with this one. */
  rollup?: 'sub';
}

interface Waiter {
  readonly subject: string;
  readonly deadline: number;
  resolve(m: Msg): void;
  reject(err: Error): void;
}

interface Outgoing {
  readonly subject: string;
  readonly data: Uint8Array | string;
  readonly hdrs: ReturnType<typeof headers> | undefined;
  /** The request's waiter and the last token of its reply subject; 0 for a message without a reply. */
  readonly id: number;
  readonly sent?: () => void;
}

interface JsAnswer {
  error?: { code: number; err_code: number; description: string };
}

const dec = new TextDecoder();

export class NatsRequests {
  private readonly inbox = createInbox();
  /** In the order sent, which with one timeout for all is also the order of their deadlines. */
  private readonly waiting = new Map<number, Waiter>();
  private next = 0;
  private readonly sweep: NodeJS.Timeout;
  /** Messages to send at the end of this turn of the event loop, in order. */
  private outbox: Outgoing[] = [];

  constructor(private readonly nc: NatsConnection, private readonly timeoutMs: number) {
    nc.subscribe(`${this.inbox}.*`, { callback: (_err, m) => this.answer(m) });
    // A tenth of the timeout late at most; the store's own retries allow far more.
    this.sweep = setInterval(() => this.expire(), Math.max(10, Math.floor(timeoutMs / 10)));
    this.sweep.unref();
  }

  /** Sends `data` to `subject` and resolves with the one reply; TimeoutError after the timeout. */
  request(subject: string, data: Uint8Array | string, hdrs?: ReturnType<typeof headers>): Promise<Msg> {
    const id = ++this.next;
    return new Promise<Msg>((resolve, reject) => {
      this.waiting.set(id, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      this.send({ subject, data, hdrs, id });
    });
  }

  /**
   * Sends without a reply (an ack). Resolves once the message is handed to the client, so whatever the caller
   * sends next goes after it. A failure to send is moot, as for nats.js's publish() on a closed connection.
   */
  publish(subject: string, data: string): Promise<void> {
    return new Promise<void>((sent) => this.send({ subject, data, hdrs: undefined, id: 0, sent }));
  }

  /**
   * Queues the message and sends the queue at the end of this turn of the event loop. nats.js writes to its
   * socket once per microtask checkpoint that published anything, and each commit stage, ack and count runs
   * in a checkpoint of its own: that was one write per image, a fifth of the coordinator's CPU in the kernel.
   * Sent together, a turn's messages take one write. Order is kept: the store relies on it (see putObject).
   */
  private send(m: Outgoing): void {
    this.outbox.push(m);
    if (this.outbox.length === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const out = this.outbox;
    this.outbox = [];
    for (const m of out) {
      try {
        const reply = `${this.inbox}.${m.id}`;
        const opts = m.id === 0 ? undefined : m.hdrs === undefined ? { reply } : { reply, headers: m.hdrs };
        this.nc.publish(m.subject, m.data, opts);
      } catch (err) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        w?.reject(err as Error);
      }
      m.sent?.();
    }
  };

  /** A JetStream request: the reply's JSON, or the server's error as a JetStreamApiError. */
  async jsRequest<T>(subject: string, body: unknown): Promise<T> {
    return parseAnswer<T>(await this.request(subject, JSON.stringify(body)));
  }

  /** Publishes to a stream and resolves with the stream's ack, as nats.js's js.publish() does. */
  async jsPublish(subject: string, data: Uint8Array, o: JsPublishOptions = {}): Promise<PubAck> {
    let h: ReturnType<typeof headers> | undefined;
    if (o.msgID !== undefined || o.lastSubjectSequence !== undefined || o.rollup !== undefined) {
      h = headers();
      if (o.msgID !== undefined) h.set('Nats-Msg-Id', o.msgID);
      if (o.lastSubjectSequence !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(o.lastSubjectSequence));
      if (o.rollup !== undefined) h.set('Nats-Rollup', o.rollup);
    }
    const ack = parseAnswer<PubAck>(await this.request(subject, data, h));
    return { ...ack, duplicate: ack.duplicate ?? false };
  }

  /** Sends what is queued and fails what still waits; the subscription ends with the connection. */
  close(): void {
    this.flush();
    clearInterval(this.sweep);
    for (const w of this.waiting.values()) w.reject(new TimeoutError());
    this.waiting.clear();
  }

  private answer(m: Msg): void {
    const id = Number(m.subject.slice(this.inbox.length + 1));
    const w = this.waiting.get(id);
    if (w === undefined) return; // answered after its timeout
    this.waiting.delete(id);
    if (m.data.length === 0 && m.headers?.code === 503) {
      const cause = new NoRespondersError(w.subject);
      w.reject(new RequestError(cause.message, { cause }));
    } else {
      w.resolve(m);
    }
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) break;
      this.waiting.delete(id);
      w.reject(new TimeoutError());
    }
  }
}

function parseAnswer<T>(m: Msg): T {
  const a = JSON.parse(dec.decode(m.data)) as T & JsAnswer;
  if (a.error !== undefined) throw new JetStreamApiError(a.error);
  return a;
}
