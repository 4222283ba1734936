// `latentfarm serve`: the only place that creates the coordinator's logger and registry.
import { createLogger, createRegistry } from '@latentfarm/common';
import { coordinatorHelp, parseCoordinatorConfig } from './config.js';
import { startCoordinator, type Coordinator } from './coordinator.js';

export async function runServe(argv: readonly string[]): Promise<Coordinator | undefined> {
  const { values: config, help } = parseCoordinatorConfig(argv);
  if (help) {
    process.stdout.write(coordinatorHelp());
    return undefined;
  }
  const log = createLogger('coordinator', config.logLevel);
  const coordinator = await startCoordinator(config, { log, registry: createRegistry('coordinator') });
  // Said once it is up, so a start that fails stays one line.
  if (config.noAuth) log.warn({ noAuth: true }, 'running WITHOUT authentication (--no-auth): anyone who reaches this port is an admin and can register workers; use API keys for any farm others can reach');
  if (coordinator.firstAdminKey !== undefined) {
    // The only time this key is shown: the store keeps its hash.
    process.stderr.write(`latentfarm serve: this farm had no admin key, so it made one. It is shown only now; keep it secret:\n\n  ${coordinator.firstAdminKey}\n\n` +
      'Use it as LATENTFARM_API_KEY (or --api-key) with latentfarm tenant create / key create to make tenant and worker keys.\n');
  }
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    coordinator.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return coordinator;
}
