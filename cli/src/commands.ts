// The client commands by name (the farm commands, up/serve/worker, are wired in main.ts).
import type { Command } from './command.js';
import { jobCommands } from './jobs.js';
import { submitCommands } from './submit.js';

export type { Command };
export { runCommand } from './command.js';

export const commands: Record<string, Command> = { ...submitCommands, ...jobCommands };
