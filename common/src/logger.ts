import { pino, type Logger, type Level } from 'pino';

export type { Logger };

/** JSON logs on stderr, so a CLI's stdout stays machine-readable. Only main.ts calls this. */
export function createLogger(name: string, level: Level | 'silent' = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}
