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
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    coordinator.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return coordinator;
}
