export * from './errors.js';
export * from './config.js';
export * from './listen.js';
export * from './logger.js';
export * from './metrics.js';
export * from './rate.js';
export * from './time.js';
export * from './tls-files.js';
