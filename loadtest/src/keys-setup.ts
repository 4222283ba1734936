// A load test with API keys on: the coordinator starts with an admin key file
// (so it checks keys, as `serve` does by default), the load generator calls as
// a tenant, and each sim worker connects with a worker key bound to its id —
// what a production farm does, so the load test measures what keys cost.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AdminClient, Role } from '@latentfarm/client';
import { generateApiKey } from '@latentfarm/coordinator';

/** The tenant the load generator submits as. */
export const LOADTEST_TENANT = 'loadtest';

export interface FarmKeys {
  /** Coordinator flags that turn keys on. */
  readonly coordinatorArgs: string[];
  readonly adminKey: string;
}

/** Writes an admin key file in `dir` for `serve --admin-key-file`. */
export async function adminKeyFile(dir: string): Promise<FarmKeys> {
  const adminKey = generateApiKey();
  const file = join(dir, 'admin.key');
  await writeFile(file, `${adminKey}\n`, { mode: 0o600 });
  return { coordinatorArgs: ['--admin-key-file', file], adminKey };
}

/**
 * Makes the load test's tenant and its key, and one worker key per worker id;
 * writes the worker keys to `dir` (a JSON map id → key, read by worker-pool.ts).
 * Returns the tenant key and the worker keys file.
 */
export async function provisionKeys(address: string, adminKey: string, workerIds: readonly string[], dir: string): Promise<{ tenantKey: string; workerKeysFile: string }> {
  const admin = new AdminClient(address, { apiKey: adminKey });
  try {
    await admin.createTenant(LOADTEST_TENANT);
    // The tenant's submits reserve credits: a balance far above any run, so the ledger is measured, never the refusal.
    await admin.grantCredits(LOADTEST_TENANT, 1_000_000_000);
    const tenant = await admin.createKey({ role: Role.TENANT, tenantId: LOADTEST_TENANT, name: 'load test' });
    const workerKeys: Record<string, string> = {};
    for (const id of workerIds) {
      workerKeys[id] = (await admin.createKey({ role: Role.WORKER, workerId: id, name: `load test ${id}` })).secretKey;
    }
    const workerKeysFile = join(dir, 'worker-keys.json');
    await writeFile(workerKeysFile, JSON.stringify(workerKeys), { mode: 0o600 });
    return { tenantKey: tenant.secretKey, workerKeysFile };
  } finally {
    admin.close();
  }
}
