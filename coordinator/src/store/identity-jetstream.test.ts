// The identity store contract against a real nats-server, and that a second
// coordinator's store sees keys and revocations made through the first.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@latentfarm/common';
import { startNatsServer, type NatsServer } from '@latentfarm/testkit';
import { JetStreamIdentityStore, type JetStreamIdentityOptions } from './identity-jetstream.js';
import { describeIdentityContract, keyRecord } from './identity.contract.js';

let nats: NatsServer;
beforeAll(async () => { nats = await startNatsServer(); });
afterAll(async () => nats?.stop());

const options = (prefix = `t${randomBytes(4).toString('hex')}`): JetStreamIdentityOptions => ({
  url: nats.url, prefix, replicas: 1, timeoutMs: 2_000, log: createLogger('test', 'silent'),
});

describeIdentityContract('jetstream', async () => {
  const store = await JetStreamIdentityStore.connect(options());
  return { store, close: () => store.close() };
});

describe('JetStream identity store shared by coordinators', () => {
  it('shows a key made through one coordinator, and its revocation, to another', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const a = await JetStreamIdentityStore.connect(options(prefix));
    const b = await JetStreamIdentityStore.connect(options(prefix));
    try {
      const k = keyRecord();
      await a.createKey(k);
      expect(await b.getKey(k.id)).toEqual(k);
      expect(await b.createKey(k)).toBe(false);
      await b.revokeKey(k.id, 42);
      expect((await a.getKey(k.id))?.revokedUnixMs).toBe(42);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
