export { runServe } from './main.js';
export { startCoordinator, type Coordinator } from './coordinator.js';
export { coordinatorOptions, compileCoordinatorConfig, defaultCoordinatorConfig, coordinatorHelp, type CoordinatorConfig } from './config.js';
export type { CoordinatorDeps } from './coordinator.js';
export type { Authenticate } from './http/sessions.js';
export { ANONYMOUS, type Principal } from './farm/principal.js';
