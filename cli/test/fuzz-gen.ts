// A seeded generator of malformed and hostile requests for both gRPC services:
// random bytes as the serialized message, valid encodings with bytes flipped,
// cut or appended, and well-formed messages full of wrong values (huge and
// negative numbers, unicode junk, long strings, unknown enum values). Same
// seed, same requests: a failure is reproduced by its seed and index.
import {
  ConnectRequest, EstimateCostRequest, GetImageRequest, GetJobRequest, ListJobsRequest, SubmitJobRequest, SubmitJobStreamRequest,
  WatchJobRequest, type GenerationParams, type ImageFormat, type Scheduler, type Hello, type JobSpec, type PromptEntry,
} from '@latentfarm/proto';

/** splitmix32: small, fast, and the same stream for the same seed everywhere. */
export class Rng {
  private state: number;
  constructor(seed: number) { this.state = seed >>> 0; }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 0x100000000;
  }
  int(n: number): number { return Math.floor(this.next() * n); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)] as T; }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const JUNK = [
  '', ' ', '\u0000', '\uD800', '\uDFFF', '\uFFFE', '\u202E\u202D', 'e\u0301\u0301\u0301\u0301', '🦀🔥👩‍👩‍👧‍👦', '../../etc/passwd', '%s%n%x', '${jndi:ldap://x}',
  '<script>alert(1)</script>', 'j', 'sim', 'sim\u0000', 'SIM', 'null', 'undefined', '-1', 'NaN', '\r\n\r\n', 'a/b/c', '/0', 'j/99999999999999999999',
];

export function junkString(r: Rng): string {
  switch (r.int(5)) {
    case 0: return r.pick(JUNK);
    case 1: return r.bytes(r.int(64)).toString('latin1');
    case 2: return r.bytes(r.int(200)).toString('utf8');
    case 3: return r.pick(JUNK).repeat(1 + r.int(4000));
    default: return Array.from({ length: r.int(20) }, () => String.fromCodePoint(r.int(0x110000) & ~0x800)).join('');
  }
}

const NUMBERS = [0, 1, -1, 7, 8, 64, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 1e15, Number.NaN, Number.POSITIVE_INFINITY, -0, 0.5, 1e308];
export const junkNumber = (r: Rng): number => (r.chance(0.7) ? r.pick(NUMBERS) : r.int(2 ** 31) * (r.chance(0.5) ? -1 : 1));
/** Numbers an unsigned 32-bit field can carry on the wire (ts-proto writes what it is given; out-of-range ones would throw in the encoder). */
const u32 = (r: Rng): number => (r.chance(0.5) ? r.pick([0, 1, 7, 8, 64, 2 ** 31 - 1, 2 ** 32 - 1]) : r.int(2 ** 32));
const u53 = (r: Rng): number => r.pick([0, 1, 2, 3, 1000, 2 ** 32, 2 ** 53 - 1]);

function params(r: Rng): GenerationParams | undefined {
  if (r.chance(0.2)) return undefined;
  return {
    width: r.chance(0.5) ? r.pick([8, 64, 0, 65, 4096, 2 ** 32 - 1]) : undefined,
    height: r.chance(0.5) ? r.pick([8, 64, 0, 63, 1 << 20]) : undefined,
    steps: r.chance(0.5) ? r.pick([1, 2, 0, 151, 2 ** 32 - 1]) : undefined,
    cfgScale: r.chance(0.5) ? r.pick([0, 7.5, -1, Number.NaN, Number.POSITIVE_INFINITY, 1e30]) : undefined,
    scheduler: r.pick([0, 1, 2, 3, 6, 7, 99, 2 ** 31 - 1]) as Scheduler,
    seed: r.chance(0.5) ? u32(r) : undefined,
    outputFormat: r.pick([0, 1, 2, 3, 4, 1000]) as ImageFormat,
  };
}

function spec(r: Rng): JobSpec | undefined {
  if (r.chance(0.1)) return undefined;
  const labels: Record<string, string> = {};
  for (let i = r.int(r.chance(0.1) ? 80 : 4); i > 0; i--) labels[junkString(r)] = junkString(r);
  return {
    model: r.chance(0.5) ? 'sim' : junkString(r), priority: r.pick([0, 1, 5, 10, 11, 2 ** 32 - 1]), labels,
    idempotencyKey: r.chance(0.7) ? '' : junkString(r), params: params(r),
  };
}

function entries(r: Rng): PromptEntry[] {
  return Array.from({ length: r.chance(0.1) ? 0 : 1 + r.int(r.chance(0.1) ? 300 : 5) }, () => ({
    prompt: r.chance(0.6) ? `fuzz ${r.int(1000)}` : junkString(r), negativePrompt: r.chance(0.8) ? '' : junkString(r),
    images: r.pick([0, 1, 2, 1000, 2 ** 32 - 1]), seed: r.chance(0.5) ? u32(r) : undefined, overrides: r.chance(0.7) ? undefined : params(r),
  }));
}

/** An id: junk, or one of the jobs the fuzz made (never a canary's). */
const idOf = (r: Rng, known: readonly string[]): string => (known.length > 0 && r.chance(0.4) ? r.pick(known) : junkString(r));

/** A structurally valid request of `method`, with hostile values. */
export function structured(r: Rng, method: string, known: readonly string[]): Buffer {
  const enc = (u: Uint8Array) => Buffer.from(u);
  switch (method) {
    case 'SubmitJob': return enc(SubmitJobRequest.encode({ spec: spec(r), entries: entries(r) }).finish());
    case 'EstimateCost': return enc(EstimateCostRequest.encode({ spec: spec(r), entries: entries(r) }).finish());
    case 'GetJob': case 'CancelJob': return enc(GetJobRequest.encode({ jobId: idOf(r, known) }).finish());
    case 'ListJobs': {
      const labels: Record<string, string> = {};
      for (let i = r.int(3); i > 0; i--) labels[junkString(r)] = junkString(r);
      return enc(ListJobsRequest.encode({ pageSize: r.pick([0, 1, 1000, 1001, 2 ** 31 - 1, 2 ** 32 - 1]), pageToken: r.chance(0.5) ? '' : junkString(r), states: [r.int(9)], labels, createdAfterUnixMs: r.pick([0, 0, -1, 2 ** 53 - 1]) }).finish());
    }
    case 'GetImage': return enc(GetImageRequest.encode({ imageId: r.chance(0.5) ? `${idOf(r, known)}/${r.pick([0, 1, 2 ** 53 - 1])}` : junkString(r) }).finish());
    case 'WatchJob': return enc(WatchJobRequest.encode({ jobId: idOf(r, known), afterSequence: u53(r), referencesOnly: r.chance(0.5), noProgress: r.chance(0.5) }).finish());
    case 'GetFarmStatus': return Buffer.alloc(0);
    default: throw new Error(`no generator for ${method}`);
  }
}

/** A valid encoding with a few bytes flipped, cut short, or followed by junk. */
export function mutated(r: Rng, valid: Buffer): Buffer {
  const b = Buffer.from(valid);
  switch (r.int(3)) {
    case 0:
      for (let i = 1 + r.int(4); i > 0 && b.length > 0; i--) b[r.int(b.length)] = r.int(256);
      return b;
    case 1: return b.subarray(0, r.int(b.length + 1));
    default: return Buffer.concat([b, r.bytes(1 + r.int(32))]);
  }
}

/** One request message: random bytes, a mutated valid one, or a valid one with hostile values. */
export function requestBytes(r: Rng, method: string, known: readonly string[]): Buffer {
  const roll = r.next();
  if (roll < 0.25) return r.bytes(r.int(r.chance(0.1) ? 100_000 : 300));
  const valid = structured(r, method, known);
  return roll < 0.55 ? mutated(r, valid) : valid;
}

export function hello(r: Rng): Hello {
  return {
    workerId: r.chance(0.8) ? `fuzz-${r.int(50)}` : junkString(r), models: r.chance(0.7) ? ['sim'] : Array.from({ length: r.int(100) }, () => junkString(r)),
    maxBatch: u32(r), provider: junkString(r), device: junkString(r), engine: 'sim', version: junkString(r),
    modelDefaults: r.chance(0.8) ? [] : [{ name: junkString(r), width: u32(r), height: u32(r), scheduler: r.pick([0, 3, 99]) as Scheduler }],
  };
}

/** A SubmitJobStream message: the spec, a chunk of prompts, an empty item, or bytes that are no message. */
export function streamItem(r: Rng): Buffer {
  const roll = r.next();
  if (roll < 0.15) return r.bytes(r.int(200));
  const msg: SubmitJobStreamRequest = roll < 0.45 ? { item: { $case: 'spec', value: spec(r) ?? { model: 'sim', priority: 0, labels: {}, idempotencyKey: '' } } }
    : roll < 0.9 ? { item: { $case: 'prompts', value: { entries: entries(r) } } } : { item: undefined };
  const bytes = Buffer.from(SubmitJobStreamRequest.encode(msg).finish());
  return r.chance(0.15) ? mutated(r, bytes) : bytes;
}

/** A worker's message with no regard for its leases: any kind, in any order, junk ids and epochs, or bytes that are no message. */
export function workerMessage(r: Rng): Buffer {
  const roll = r.next();
  if (roll < 0.12) return r.bytes(r.int(200));
  let m: ConnectRequest['message'];
  switch (r.int(8)) {
    case 0: m = { $case: 'hello', value: hello(r) }; break;
    case 1: m = { $case: 'credit', value: { slots: u32(r) } }; break;
    case 2: m = { $case: 'heartbeat', value: { busyRatio: junkNumber(r) } }; break;
    case 3: m = { $case: 'progress', value: { steps: [{ taskId: junkString(r), epoch: u53(r), step: u32(r), totalSteps: u32(r) }] } }; break;
    case 4: m = { $case: 'result', value: { taskId: junkString(r), epoch: u53(r), image: r.bytes(r.int(400)), mimeType: r.pick(['image/png', 'text/html', '', junkString(r)]) } }; break;
    case 5: m = { $case: 'failure', value: { taskId: junkString(r), epoch: u53(r), reason: junkString(r), retryable: r.chance(0.5) } }; break;
    case 6: m = { $case: 'release', value: { taskIds: [junkString(r)], epochs: [u53(r), u53(r)] } }; break;
    default: m = undefined;
  }
  const bytes = Buffer.from(ConnectRequest.encode({ message: m }).finish());
  return r.chance(0.15) ? mutated(r, bytes) : bytes;
}
