export * from './processes.js';
export * from './prometheus.js';
