export * from './errors.js';
export * from './config.js';
export * from './logger.js';
export * from './metrics.js';
export * from './time.js';
