// The console's public face for the coordinator: where its built pages are,
// and the HTTP JSON contract the server speaks and the pages read (types
// only: the browser half emits no JavaScript for Node to load).
export type * from '../web/api-types.js';
export { consoleAssetsDir, CONSOLE_FILES, type ConsoleFile } from './assets.js';
