import { ConfigError, opt, parseOptions, formatHelp, type OptionValues } from '@latentfarm/common';
import { MAX_SESSION_TTL_MS } from './store/identity.js';
import { DEFAULT_MAX_TENANT_LABELS } from './tenant-labels.js';
import type { TenantLimits } from './quota/tenant-limits.js';
import { parsePrices } from './farm/pricing.js';

export const coordinatorOptions = {
  host: opt.string('Address the gRPC server listens on', '127.0.0.1'),
  port: opt.int('gRPC port (0 picks a free one)', 7400, { min: 0, max: 65535 }),
  workerPort: opt.int('gRPC port of the WorkerGateway alone (0 picks a free one); -1 serves workers on --port. Required with --tls-client-ca', -1, { min: -1, max: 65535 }),
  tlsCert: opt.string('TLS: certificate chain (PEM) of the gRPC ports; empty serves plaintext', ''),
  tlsKey: opt.string('TLS: private key (PEM) of --tls-cert', ''),
  tlsClientCa: opt.string('mTLS: CA bundle (PEM) that issues worker certificates; the worker port then requires one, and a worker\'s id must be its certificate\'s common name', ''),
  metricsHost: opt.string('Address of the /metrics HTTP server', '127.0.0.1'),
  metricsPort: opt.int('Port of the /metrics HTTP server (0 picks a free one, -1 disables)', 9400, { min: -1, max: 65535 }),
  httpHost: opt.string('Address of the web console\'s HTTP server', '127.0.0.1'),
  httpPort: opt.int('Port of the web console (0 picks a free one, -1 disables)', -1, { min: -1, max: 65535 }),
  httpSessionTtlS: opt.int('How long a console log-in lasts, in seconds (at most 30 days)', 12 * 3600, { min: 60, max: MAX_SESSION_TTL_MS / 1000 }),
  dataDir: opt.string('Directory of the embedded store: latentfarm.db (jobs, tasks, events, keys) and images/; kept across restarts', 'data'),
  retainFor: opt.duration('How long finished jobs (succeeded, partial, failed, cancelled) are kept after they finish, with their images, events and keys, e.g. 30d; 0 keeps them forever. Queued and running jobs are never expired', 0),
  retainBytes: opt.bytes('Most bytes of stored images: beyond it the oldest finished jobs are expired (as by --retain-for), e.g. 20GB; 0: no cap. Images of queued and running jobs count but never go', 0),
  natsUrl: opt.string('NATS server(s), comma-separated; when set, jobs, tasks, events and images live in JetStream instead of in this process', ''),
  natsPrefix: opt.string('Prefix of the JetStream streams and buckets (lets several farms share one NATS)', 'latentfarm'),
  natsReplicas: opt.int('Replicas of each JetStream stream and bucket (3 in production, on a 3-node cluster)', 1, { min: 1, max: 5 }),
  natsTimeoutMs: opt.int('Timeout of one NATS request; while NATS is unreachable calls fail after at most this long', 5_000, { min: 100 }),
  noAuth: opt.bool('Run without API keys: every caller, worker or client, is an admin. Only for a farm nobody else can reach; serve warns at start', false),
  adminKeyFile: opt.string('File holding an admin API key (from latentfarm key generate), stored (hashed) at start: the first admin of a new farm, e.g. from a Kubernetes Secret. Without it, a farm with no admin key makes one at start and prints it once', ''),
  models: opt.list('Models accepted in jobs before any worker serves them (scaling from zero: their jobs wait queued), besides those connected workers announce', ['sim']),
  defaultModel: opt.string('Model of a job that names none (empty: the one model the farm serves or accepts besides sim); accepted like --models', ''),
  logLevel: opt.oneOf('Log level', 'info', ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const),
  leaseTtlMs: opt.int('A worker that is silent this long loses its leases', 15_000, { min: 100 }),
  heartbeatMs: opt.int('How often workers send heartbeats', 3_000, { min: 50 }),
  maxAttempts: opt.int('Attempts per image before it fails', 3, { min: 1, max: 100 }),
  maxImagesPerJob: opt.int('Largest job, in images', 2_000_000, { min: 1 }),
  maxQueuedImages: opt.int('Images waiting across all jobs before submits are refused', 20_000_000, { min: 1 }),
  tenantWeight: opt.int('A tenant\'s share of the workers beside other tenants with waiting images (stride weight), unless its own is set (latentfarm tenant update --weight)', 1, { min: 1, max: 1_000 }),
  tenantMaxQueuedImages: opt.int('Images one tenant may have submitted and not yet finished, unless its own quota is set (--max-queued-images of latentfarm tenant update)', 2_000_000, { min: 1 }),
  tenantMaxRunningJobs: opt.int('Unfinished (queued or running) jobs one tenant may have, unless its own quota is set', 1_000, { min: 1 }),
  tenantSubmitsPerMinute: opt.int('Submits one tenant may make a minute, per coordinator (a token bucket holding a minute\'s worth), unless its own quota is set', 600, { min: 1 }),
  tenantRefreshMs: opt.int('How long a coordinator trusts a tenant\'s weight and quotas before reading them again: a change made through another coordinator counts after at most this long', 5_000, { min: 0 }),
  maxPromptChars: opt.int('Longest prompt or negative prompt, in characters', 2_000, { min: 1 }),
  maxWidth: opt.int('Largest image width', 2048, { min: 8 }),
  maxHeight: opt.int('Largest image height', 2048, { min: 8 }),
  maxSteps: opt.int('Most denoising steps', 150, { min: 1 }),
  maxCfgScale: opt.number('Largest guidance scale', 30, { min: 0 }),
  defaultWidth: opt.int('Width when a job sets none and no connected worker announced its model\'s native size', 512, { min: 8 }),
  defaultHeight: opt.int('Height when a job sets none and no connected worker announced its model\'s native size', 512, { min: 8 }),
  defaultSteps: opt.int('Steps when a job sets none', 25, { min: 1 }),
  defaultCfgScale: opt.number('Guidance scale when a job sets none', 7.5, { min: 0 }),
  costBasePixels: opt.int('Pixels of the 1-credit reference image', 512 * 512, { min: 1 }),
  costBaseSteps: opt.int('Steps of the 1-credit reference image', 50, { min: 1 }),
  costMinCredits: opt.number('Least credits charged per image', 0.01, { min: 0 }),
  maxTenantLabels: opt.int('Tenants with a label of their own in the per-tenant metrics: the first this many seen since start; later ones are counted as tenant="other"', DEFAULT_MAX_TENANT_LABELS, { min: 0, max: 10_000 }),
  prices: opt.list('Price multipliers per model, model=factor, comma-separated (e.g. sdxl=2.5,sd15=1): EstimateCost, reservations and settlement use them; unlisted models cost 1×', []),
  maxLabels: opt.int('Most labels on one job', 64, { min: 0, max: 10_000 }),
  maxLabelKeyChars: opt.int('Longest label key, in characters', 128, { min: 1 }),
  maxLabelValueChars: opt.int('Longest label value, in characters', 1_024, { min: 0 }),
  maxLabelsChars: opt.int('Most characters in all of a job\'s label keys and values together', 16_384, { min: 0 }),
  maxIdChars: opt.int('Longest id a request may carry: job ids, image ids, idempotency keys, worker ids', 256, { min: 16, max: 65_536 }),
  maxMessageBytes: opt.int('Largest gRPC message the coordinator accepts (a submit, a stream chunk, a worker\'s result)', 40 * 1024 * 1024, { min: 1024 * 1024 }),
  maxResultBytes: opt.int('Largest image a worker may return; a bigger one fails the attempt and counts against the worker', 32 * 1024 * 1024, { min: 1024 }),
  maxWorkerCredit: opt.int('Most tasks one worker may hold or be owed at once, whatever it declared (its own cap is 2 × its max batch)', 256, { min: 1 }),
  quarantineStrikes: opt.int('Times a worker may vanish while holding leases, or return a bad result, within --quarantine-ms before it is refused', 3, { min: 1 }),
  quarantineMs: opt.int('How long strikes are remembered, and how long a worker with too many is refused', 60_000, { min: 100 }),
};

export type CoordinatorConfig = OptionValues<typeof coordinatorOptions>;

export function parseCoordinatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  const parsed = parseOptions(coordinatorOptions, argv, env);
  return { ...parsed, values: compileCoordinatorConfig(parsed.values) };
}

/** Checks what one option alone cannot (names, defaults against maxima); throws ConfigError naming the flag. */
export function compileCoordinatorConfig(v: CoordinatorConfig): CoordinatorConfig {
  if (!/^[A-Za-z0-9_-]+$/.test(v.natsPrefix)) {
    throw new ConfigError(`--nats-prefix: "${v.natsPrefix}" may only contain letters, digits, "_" and "-" (it names streams and subjects)`);
  }
  for (const [flag, value, max] of [['--default-width', v.defaultWidth, v.maxWidth], ['--default-height', v.defaultHeight, v.maxHeight]] as const) {
    if (value % 8 !== 0) throw new ConfigError(`${flag}: ${value} is not a multiple of 8`);
    if (value > max) throw new ConfigError(`${flag}: ${value} is above the maximum ${max}`);
  }
  if ((v.tlsCert === '') !== (v.tlsKey === '')) throw new ConfigError(v.tlsCert === '' ? '--tls-key: needs --tls-cert' : '--tls-cert: needs --tls-key');
  if (v.tlsClientCa !== '' && v.tlsCert === '') throw new ConfigError('--tls-client-ca: needs --tls-cert and --tls-key (mTLS is TLS first)');
  if (v.tlsClientCa !== '' && v.workerPort < 0) {
    throw new ConfigError('--tls-client-ca: workers need a port of their own with mTLS (clients do not carry certificates): set --worker-port, e.g. 7401');
  }
  if (v.workerPort > 0 && v.workerPort === v.port) throw new ConfigError(`--worker-port: ${v.workerPort} is --port too; choose another, or -1 to serve workers on --port`);
  parsePrices(v.prices);
  if (v.noAuth && v.adminKeyFile !== '') throw new ConfigError('--admin-key-file: has no use with --no-auth (nobody needs a key); drop one of them');
  if (v.maxResultBytes + 64 * 1024 > v.maxMessageBytes) {
    throw new ConfigError(`--max-result-bytes: ${v.maxResultBytes} does not fit in --max-message-bytes ${v.maxMessageBytes} (leave 64 KiB for the rest of the message)`);
  }
  if (v.defaultSteps > v.maxSteps) throw new ConfigError(`--default-steps: ${v.defaultSteps} is above --max-steps ${v.maxSteps}`);
  if (v.defaultCfgScale > v.maxCfgScale) throw new ConfigError(`--default-cfg-scale: ${v.defaultCfgScale} is above --max-cfg-scale ${v.maxCfgScale}`);
  return v;
}

/** What a tenant whose record sets no weight or quota gets (and an admin's jobs, for weight). */
export function tenantDefaults(v: CoordinatorConfig): TenantLimits {
  return {
    weight: v.tenantWeight, maxQueuedImages: v.tenantMaxQueuedImages, maxRunningJobs: v.tenantMaxRunningJobs, submitsPerMinute: v.tenantSubmitsPerMinute,
  };
}

export const coordinatorHelp = (): string =>
  formatHelp('Usage: latentfarm serve [options]\n\nRuns the coordinator: the RenderFarm API for clients and the WorkerGateway for workers.', coordinatorOptions);

export function defaultCoordinatorConfig(overrides: Partial<CoordinatorConfig> = {}): CoordinatorConfig {
  return { ...parseOptions(coordinatorOptions, [], {}).values, ...overrides };
}
