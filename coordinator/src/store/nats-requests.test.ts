// NatsRequests against a real nats-server: answers, the errors the store
// treats as transient (no responders, timeout), and JetStream's own errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type NatsServer } from '@latentfarm/testkit';
import { JetStreamApiError, RetentionPolicy, StorageType, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsRequests } from './nats-requests.js';

let nats: NatsServer;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe('NatsRequests', () => {
  it('matches each reply to its request, however they interleave', async () => {
    const requests = new NatsRequests(nc, 5_000);
    const pending: { reply: string; n: string }[] = [];
    const sub = nc.subscribe('echo', {
      callback: (_e, m) => {
        pending.push({ reply: m.reply ?? '', n: m.string() });
        // Answer in reverse order, once all have come.
        if (pending.length === 3) for (const p of pending.reverse()) nc.publish(p.reply, `re ${p.n}`);
      },
    });
    try {
      const answers = await Promise.all(['1', '2', '3'].map((n) => requests.request('echo', n)));
      expect(answers.map((m) => m.string())).toEqual(['re 1', 're 2', 're 3']);
    } finally {
      sub.unsubscribe();
      requests.close();
    }
  });

  it('fails with RequestError (no responders) when nobody listens and TimeoutError when nobody answers', async () => {
    const requests = new NatsRequests(nc, 300);
    const sub = nc.subscribe('silent', { callback: () => undefined });
    try {
      await expect(requests.request('nobody.here', 'x')).rejects.toMatchObject({ name: 'RequestError', cause: { name: 'NoResponders' } });
      await expect(requests.request('silent', 'x')).rejects.toMatchObject({ name: 'TimeoutError' });
    } finally {
      sub.unsubscribe();
      requests.close();
    }
  });

  it('publishes to a stream with its headers, and turns a refusal into JetStreamApiError with its code', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'REQ_T', subjects: ['req.t.>'], retention: RetentionPolicy.Limits, storage: StorageType.Memory, allow_rollup_hdrs: true });
    const requests = new NatsRequests(nc, 5_000);
    try {
      const first = await requests.jsPublish('req.t.a', new TextEncoder().encode('one'), { msgID: 'm1', lastSubjectSequence: 0 });
      expect(first).toMatchObject({ stream: 'REQ_T', seq: 1, duplicate: false });
      expect(await requests.jsPublish('req.t.a', new TextEncoder().encode('one'), { msgID: 'm1' })).toMatchObject({ seq: 1, duplicate: true });
      const refused = await requests.jsPublish('req.t.a', new TextEncoder().encode('two'), { msgID: 'm2', lastSubjectSequence: 0 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(JetStreamApiError);
      expect((refused as JetStreamApiError).code).toBe(10071); // wrong last sequence
      await requests.jsPublish('req.t.a', new TextEncoder().encode('three'), { rollup: 'sub' });
      const info = await requests.jsRequest<{ state: { messages: number } }>('$JS.API.STREAM.INFO.REQ_T', {});
      expect(info.state.messages).toBe(1);
    } finally {
      requests.close();
      await jsm.streams.delete('REQ_T');
    }
  });
});
