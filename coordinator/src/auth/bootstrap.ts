// The first admin key of a farm. Either the operator hands one in
// (`--admin-key-file`: a file holding a key, e.g. from `latentfarm key
// generate` in a Kubernetes Secret; its hash is stored at start), or a farm
// with no admin key at all makes one at start and returns it, for `serve` to
// print once.
import { readFile } from 'node:fs/promises';
import { ConfigError, type Logger } from '@latentfarm/common';
import type { IdentityStore } from '../store/identity.js';
import { generateKey, hashSecret, parseKey, secretMatches } from './keys.js';

/** Returns a key made now (the store had no admin key), to be shown once; undefined otherwise. */
export async function bootstrapAdmin(store: IdentityStore, adminKeyFile: string, audit: Logger): Promise<string | undefined> {
  if (adminKeyFile !== '') {
    await adoptKeyFile(store, adminKeyFile, audit);
    return undefined;
  }
  const keys = await store.listKeys();
  if (keys.some((k) => k.role === 'admin')) return undefined;
  const made = generateKey();
  await store.createKey({
    id: made.keyId, role: 'admin', tenantId: '', workerId: '', hash: made.hash, name: 'first admin (made at start)',
    createdUnixMs: Date.now(), expiresUnixMs: 0, revokedUnixMs: 0,
  });
  audit.warn({ audit: 'key_create', outcome: 'ok', by: 'bootstrap', keyId: made.keyId, role: 'admin' }, 'no admin key yet: made the first one');
  return made.key;
}

async function adoptKeyFile(store: IdentityStore, file: string, audit: Logger): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--admin-key-file: cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  const parsed = parseKey(text);
  if (parsed === undefined) throw new ConfigError(`--admin-key-file: "${file}" does not hold an API key (lf_…; make one with latentfarm key generate)`);
  const existing = await store.getKey(parsed.keyId);
  if (existing === undefined) {
    await store.createKey({
      id: parsed.keyId, role: 'admin', tenantId: '', workerId: '', hash: hashSecret(parsed.secret), name: `--admin-key-file ${file}`,
      createdUnixMs: Date.now(), expiresUnixMs: 0, revokedUnixMs: 0,
    });
    audit.info({ audit: 'key_create', outcome: 'ok', by: 'admin-key-file', keyId: parsed.keyId, role: 'admin' }, 'admin key from --admin-key-file stored (its hash)');
    return;
  }
  if (existing.role !== 'admin' || !secretMatches(parsed.secret, existing.hash)) {
    throw new ConfigError(`--admin-key-file: the key in "${file}" has the id of another key (${parsed.keyId}); make a new one with latentfarm key generate`);
  }
  // A revoked bootstrap key stays revoked: restarting with the same file must not bring it back.
  if (existing.revokedUnixMs !== 0) audit.warn({ audit: 'key_refused', keyId: existing.id, reason: 'revoked' }, '--admin-key-file holds a revoked key; it stays revoked');
}
