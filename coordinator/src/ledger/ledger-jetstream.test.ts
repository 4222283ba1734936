// The ledger contract against a real nats-server, and two coordinators
// reserving from one account at once.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@latentfarm/common';
import { startNatsServer, type NatsServer } from '@latentfarm/testkit';
import { JetStreamLedger, type JetStreamLedgerOptions } from './ledger-jetstream.js';
import { describeLedgerContract, expectBalanced } from './ledger.contract.js';
import { REMEMBERED_GRANT_IDS } from './ledger.js';

let nats: NatsServer;
beforeAll(async () => { nats = await startNatsServer(); });
afterAll(async () => nats?.stop());

const options = (prefix = `t${randomBytes(4).toString('hex')}`): JetStreamLedgerOptions => ({
  url: nats.url, prefix, replicas: 1, timeoutMs: 2_000, log: createLogger('test', 'silent'),
});

describeLedgerContract('jetstream', async () => {
  const ledger = await JetStreamLedger.connect(options());
  return { ledger, close: () => ledger.close() };
});

describe('JetStream ledger grant ids', () => {
  it('an account carries only its last REMEMBERED_GRANT_IDS request ids: an older one is granted again', async () => {
    const ledger = await JetStreamLedger.connect(options());
    try {
      for (let i = 0; i <= REMEMBERED_GRANT_IDS; i++) expect((await ledger.grant('acme', 1, i, `r${i}`)).granted).toBe(true);
      expect((await ledger.grant('acme', 1, 99, `r${REMEMBERED_GRANT_IDS}`)).granted).toBe(false);
      expect((await ledger.grant('acme', 1, 99, 'r1')).granted).toBe(false);
      expect((await ledger.grant('acme', 1, 99, 'r0')).granted).toBe(true);
    } finally {
      await ledger.close();
    }
  });
});

describe('JetStream ledger shared by coordinators', () => {
  it('two coordinators reserving from one account at once never overspend', async () => {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const a = await JetStreamLedger.connect(options(prefix));
    const b = await JetStreamLedger.connect(options(prefix));
    try {
      await a.grant('acme', 500, 1);
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) =>
        (i % 2 === 0 ? a : b).reserve({ tenantId: 'acme', jobId: `j${i}`, amount: 30, multiplier: 1, unixMs: i })));
      expect(outcomes.filter((o) => o.ok)).toHaveLength(16);
      const acc = await b.account('acme');
      expect(acc).toMatchObject({ reserved: 480, balance: 20, openJobs: 16 });
      expectBalanced(acc);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
