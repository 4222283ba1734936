export * from './processes.js';
export * from './prometheus.js';
export * from './nats.js';
