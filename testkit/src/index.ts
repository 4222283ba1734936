export * from './processes.js';
export * from './port-gate.js';
export * from './prometheus.js';
export * from './nats.js';
export * from './nats-cluster.js';
export * from './certs.js';
