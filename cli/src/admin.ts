// Tenants and API keys: `tenant create|list`, `key create|list|revoke` (an
// admin key needed) and `key generate` (offline: a fresh key for
// --admin-key-file, stored nowhere); `credits` (credits.ts).
import { flagOnly, InvalidArgumentError, opt } from '@latentfarm/common';
import { AdminClient, Role, type ApiKey, type Tenant, type TenantSettings } from '@latentfarm/client';
import { ApiKey as ApiKeyMessage, Tenant as TenantMessage } from '@latentfarm/proto';
import { clientOptions, withConnection, type Command } from './command.js';
import { credits, creditsCommands, parseAmount } from './credits.js';
import { print, printErr, printJson } from './output.js';

const ROLES: Record<string, Role> = { admin: Role.ADMIN, tenant: Role.TENANT, worker: Role.WORKER };

const withAdmin = <T>(v: Record<string, unknown>, fn: (c: AdminClient) => Promise<T>): Promise<T> =>
  withConnection(v, (address, options) => new AdminClient(address, options), fn);

/** Each item as a JSON line with --json, else as its line of text. */
function printEach<M>(v: Record<string, unknown>, items: readonly M[], json: (m: M) => unknown, line: (m: M) => string): void {
  for (const m of items) {
    if (v['json'] === true) printJson(json(m));
    else print(line(m));
  }
}

const when = (ms: number): string => (ms === 0 ? '-' : new Date(ms).toISOString());

function keyLine(k: ApiKey): string {
  const role = Object.keys(ROLES).find((r) => ROLES[r] === k.role) ?? 'unknown';
  const bound = k.tenantId !== '' ? ` tenant=${k.tenantId}` : k.workerId !== '' ? ` worker=${k.workerId}` : '';
  const state = k.revokedUnixMs !== 0 ? `revoked ${when(k.revokedUnixMs)}` : k.expiresUnixMs !== 0 ? `expires ${when(k.expiresUnixMs)}` : 'active';
  return `${k.id}  ${role.padEnd(6)}${bound}  ${state}  ${k.name}`;
}

/** A tenant's weight and quotas; 0 is the farm's default (serve --tenant-*). */
function tenantLine(t: Tenant): string {
  const v = (n: number) => (n === 0 ? 'default' : String(n));
  return `${t.id}  weight=${v(t.weight)} max-queued-images=${v(t.maxQueuedImages)} max-running-jobs=${v(t.maxRunningJobs)} ` +
    `submits-per-minute=${v(t.submitsPerMinute)}  created ${when(t.createdUnixMs)}`;
}

// Flags only: LATENTFARM_MAX_QUEUED_IMAGES is the farm's own queue setting, and a shell that sets it for serve must
// not quietly give every tenant it creates that quota.
const tenantOptions = {
  weight: flagOnly(opt.int('Its share of the workers beside other tenants with waiting images (0: the farm\'s --tenant-weight; -1: not given)', -1, { min: -1, max: 1_000 })),
  maxQueuedImages: flagOnly(opt.int('Images it may have submitted and not yet finished (0: the farm\'s --tenant-max-queued-images; -1: not given)', -1, { min: -1 })),
  maxRunningJobs: flagOnly(opt.int('Jobs it may have unfinished, queued or running (0: the farm\'s --tenant-max-running-jobs; -1: not given)', -1, { min: -1 })),
  submitsPerMinute: flagOnly(opt.int('Submits it may make a minute, per coordinator (0: the farm\'s --tenant-submits-per-minute; -1: not given)', -1, { min: -1 })),
};

/** The tenant flags given (-1, the flags' default, means not given). */
function tenantSettings(v: Record<string, unknown>): TenantSettings {
  const out: TenantSettings = {};
  for (const k of ['weight', 'maxQueuedImages', 'maxRunningJobs', 'submitsPerMinute'] as const) {
    const n = v[k] as number;
    if (n >= 0) out[k] = n;
  }
  return out;
}

function one(pos: string[], what: string): string {
  if (pos[0] === undefined || pos[0] === '') throw new InvalidArgumentError(what, `missing: give a ${what}`);
  return pos[0];
}

export const adminCommands: Record<string, Record<string, Command>> = {
  tenant: {
    create: {
      usage: 'Usage: latentfarm tenant create [options] <tenant-id>\n\nMakes a tenant (lowercase letters, digits and "-"), with its share and quotas (unset: the farm\'s defaults)\n' +
        'and, with --credits, its first credits; then give it keys with latentfarm key create --role tenant. Needs an admin key.',
      options: { ...clientOptions, ...tenantOptions, credits: flagOnly(opt.string('Credits to grant it at once (as latentfarm credits grant); empty: none', '')) },
      async run(v, pos) {
        const id = one(pos, 'tenant-id');
        const raw = v['credits'] as string;
        // Checked before the tenant is made, so a typo makes nothing.
        const amount = raw === '' ? undefined : parseAmount(raw);
        const t = await withAdmin(v, async (c) => {
          const tenant = await c.createTenant(id, tenantSettings(v));
          if (amount !== undefined) await c.grantCredits(id, amount);
          return tenant;
        });
        if (v['json'] === true) printJson(TenantMessage.toJSON(t));
        else print(`tenant created${amount === undefined ? '' : ` with ${credits(amount)} credits`}: ${tenantLine(t)}`);
        return 0;
      },
    },
    update: {
      usage: 'Usage: latentfarm tenant update [options] <tenant-id>\n\nChanges a tenant\'s share and quotas: each flag given replaces its value (0: back to the farm\'s default),\n' +
        'the others stay. Counts on this coordinator at once, on others within their --tenant-refresh-ms. Needs an admin key.',
      options: { ...clientOptions, ...tenantOptions },
      async run(v, pos) {
        const id = one(pos, 'tenant-id');
        const settings = tenantSettings(v);
        if (Object.keys(settings).length === 0) {
          throw new InvalidArgumentError('', 'nothing to change: give --weight, --max-queued-images, --max-running-jobs or --submits-per-minute');
        }
        const t = await withAdmin(v, (c) => c.updateTenant(id, settings));
        if (v['json'] === true) printJson(TenantMessage.toJSON(t));
        else print(`tenant updated: ${tenantLine(t)}`);
        return 0;
      },
    },
    list: {
      usage: 'Usage: latentfarm tenant list [options]\n\nLists the tenants with their share and quotas ("default": the farm\'s). Needs an admin key.',
      options: clientOptions,
      async run(v) {
        const tenants = await withAdmin(v, (c) => c.listTenants());
        printEach(v, tenants, (t) => TenantMessage.toJSON(t), tenantLine);
        return 0;
      },
    },
  },
  key: {
    create: {
      usage: 'Usage: latentfarm key create [options] --role tenant --tenant T | --role worker --worker-id W | --role admin\n\n' +
        'Makes an API key and prints it once (the farm keeps only its hash). Needs an admin key.',
      options: {
        ...clientOptions,
        role: opt.oneOf('Role: tenant (its own jobs), worker (WorkerGateway only, as --worker-id) or admin (everything)', 'tenant', ['tenant', 'worker', 'admin'] as const),
        tenant: opt.string('Tenant of a tenant key', ''),
        workerId: opt.string('The one worker id a worker key may connect as (the worker\'s --id)', ''),
        name: opt.string('A label for people', ''),
        expiresInHours: opt.number('Hours until the key expires (0: never)', 0, { min: 0 }),
      },
      async run(v) {
        const hours = v['expiresInHours'] as number;
        const res = await withAdmin(v, (c) => c.createKey({
          role: ROLES[v['role'] as string] ?? Role.UNSPECIFIED, tenantId: v['tenant'] as string, workerId: v['workerId'] as string,
          name: v['name'] as string, expiresUnixMs: hours === 0 ? 0 : Date.now() + Math.round(hours * 3_600_000),
        }));
        if (v['json'] === true) {
          printJson({ key: res.key === undefined ? undefined : ApiKeyMessage.toJSON(res.key), secretKey: res.secretKey });
        } else {
          // The key alone on stdout (so `KEY=$(latentfarm key create …)` works); what it is, on stderr.
          if (res.key !== undefined) printErr(`created ${keyLine(res.key)}; the key is shown only now:`);
          print(res.secretKey);
        }
        return 0;
      },
    },
    list: {
      usage: 'Usage: latentfarm key list [options]\n\nLists API keys (ids, roles, state; never the keys). Needs an admin key.',
      options: { ...clientOptions, tenant: opt.string('Only this tenant\'s keys', '') },
      async run(v) {
        const keys = await withAdmin(v, (c) => c.listKeys(v['tenant'] as string));
        printEach(v, keys, (k) => ApiKeyMessage.toJSON(k), keyLine);
        return 0;
      },
    },
    revoke: {
      usage: 'Usage: latentfarm key revoke [options] <key-id>\n\nRevokes a key (the 16 hex digits after "lf_"); its next call is refused. Needs an admin key.',
      options: clientOptions,
      async run(v, pos) {
        const id = one(pos, 'key-id');
        const k = await withAdmin(v, (c) => c.revokeKey(id));
        if (v['json'] === true) printJson(ApiKeyMessage.toJSON(k));
        else print(`revoked ${keyLine(k)}`);
        return 0;
      },
    },
    generate: {
      usage: 'Usage: latentfarm key generate\n\nPrints a new random admin key without contacting any farm, for serve --admin-key-file\n' +
        '(e.g. latentfarm key generate > admin.key, or into a Kubernetes Secret). It is stored nowhere until a coordinator starts with it.',
      options: {},
      async run() {
        // Loaded only here: the coordinator's code is heavy, and every other client command starts without it.
        const { generateApiKey } = await import('@latentfarm/coordinator');
        print(generateApiKey());
        return 0;
      },
    },
  },
  credits: creditsCommands,
};
