// An attacker's tools for the hardening tests: a hand-driven worker on the raw
// WorkerGateway stream (it says and does whatever the test tells it), and raw
// calls that send arbitrary bytes as a request, as a hostile client would.
import { Client, credentials, Metadata, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { ConnectRequest, ConnectResponse, type Hello, type Task } from '@latentfarm/proto';

export interface CallEnd {
  code: number;
  details: string;
}

/** A worker the test drives by hand. Each method sends one message; `ended` settles with the stream's status. */
export interface RawWorker {
  readonly id: string;
  readonly tasks: Task[];
  /** The stream's final status (OK when the server ended it cleanly). */
  readonly ended: Promise<CallEnd>;
  send(m: ConnectRequest['message']): void;
  credit(slots: number): void;
  /** Resolves once at least `n` tasks were leased (rejects if the stream ends first). */
  leased(n: number): Promise<Task[]>;
  /** Resolves once the coordinator welcomed it (rejects with the status if it refused instead). */
  welcomed(): Promise<void>;
  /** Vanishes: the call is cancelled, as a crashed process's would be. */
  vanish(): void;
  close(): void;
}

export const helloOf = (id: string, o: Partial<Hello> = {}): Hello => ({
  workerId: id, models: ['sim'], maxBatch: 4, provider: 'sim', device: '', engine: 'sim', version: '', modelDefaults: [], ...o,
});

const rawClients = new Map<string, Client>();
/** One plain grpc-js client per address, closed by closeRawClients. */
export function rawClient(address: string): Client {
  let c = rawClients.get(address);
  if (c === undefined) {
    c = new Client(address, credentials.createInsecure(), { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });
    rawClients.set(address, c);
  }
  return c;
}

export function closeRawClients(): void {
  for (const c of rawClients.values()) c.close();
  rawClients.clear();
}

const asEnd = (err: ServiceError | null | undefined): CallEnd => ({ code: err?.code ?? status.OK, details: err?.details ?? '' });

export function rawWorker(address: string, hello: Hello | undefined): RawWorker {
  const call: ClientDuplexStream<ConnectRequest, ConnectResponse> = rawClient(address).makeBidiStreamRequest(
    '/latentfarm.v1.WorkerGateway/Connect',
    (m: ConnectRequest) => Buffer.from(ConnectRequest.encode(m).finish()),
    (b: Buffer) => ConnectResponse.decode(b),
    new Metadata(),
  );
  const tasks: Task[] = [];
  const waiters: (() => void)[] = [];
  let welcome = false;
  const ended = new Promise<CallEnd>((resolve) => {
    call.on('status', (s: { code: number; details: string }) => resolve({ code: s.code, details: s.details }));
    call.on('error', (err: ServiceError) => resolve(asEnd(err)));
  });
  call.on('data', (m: ConnectResponse) => {
    if (m.message?.$case === 'lease') tasks.push(...m.message.value.tasks);
    if (m.message?.$case === 'welcome') welcome = true;
    for (const w of waiters.splice(0)) w();
  });
  const until = (ok: () => boolean): Promise<void> => new Promise((resolve, reject) => {
    const check = () => {
      if (ok()) resolve();
      else waiters.push(check);
    };
    void ended.then((e) => reject(new Error(`the stream ended (${status[e.code]}: ${e.details}) before it happened`)));
    check();
  });
  const w: RawWorker = {
    id: hello?.workerId ?? '',
    tasks,
    ended,
    send: (message) => { call.write({ message }); },
    credit: (slots) => w.send({ $case: 'credit', value: { slots } }),
    leased: async (n) => { await until(() => tasks.length >= n); return tasks; },
    welcomed: () => until(() => welcome),
    vanish: () => call.cancel(),
    close: () => call.end(),
  };
  if (hello !== undefined) w.send({ $case: 'hello', value: hello });
  return w;
}

const identity = (b: Buffer): Buffer => b;

/** A unary call whose request is `bytes` as sent; resolves with its status. */
export function rawUnary(address: string, method: string, bytes: Buffer, deadlineMs = 30_000): Promise<CallEnd> {
  return new Promise((resolve) => {
    rawClient(address).makeUnaryRequest(`/latentfarm.v1.RenderFarm/${method}`, identity, identity, bytes, new Metadata(), { deadline: Date.now() + deadlineMs },
      (err) => resolve(asEnd(err)));
  });
}

/** A server-streaming call (WatchJob, GetImage) with `bytes` as its request: its status, reading and dropping what it sends. */
export function rawServerStream(address: string, method: string, bytes: Buffer, o: { cancelAfterFirst?: boolean; deadlineMs?: number } = {}): Promise<CallEnd> {
  return new Promise((resolve) => {
    const call = rawClient(address).makeServerStreamRequest(`/latentfarm.v1.RenderFarm/${method}`, identity, identity, bytes, new Metadata(),
      { deadline: Date.now() + (o.deadlineMs ?? 30_000) });
    call.on('data', () => { if (o.cancelAfterFirst === true) call.cancel(); });
    call.on('status', (s: { code: number; details: string }) => resolve({ code: s.code, details: s.details }));
    call.on('error', () => undefined);
  });
}
