export { runServe } from './main.js';
export { startCoordinator, type Coordinator } from './coordinator.js';
export { coordinatorOptions, compileCoordinatorConfig, defaultCoordinatorConfig, coordinatorHelp, type CoordinatorConfig } from './config.js';
export { generateApiKey } from './auth/keys.js';
export type { Principal } from './farm/principal.js';
