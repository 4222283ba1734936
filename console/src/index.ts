// The console's public face for the coordinator: where its built pages are,
// and the HTTP JSON contract the server speaks and the pages read.
export type * from '../web/api-types.js';
export { JOB_STATES } from '../web/api-types.js';
export { consoleAssetsDir, CONSOLE_FILES, type ConsoleFile } from './assets.js';
