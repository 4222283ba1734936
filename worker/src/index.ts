export { runWorker, startWorker } from './main.js';
export { defaultWorkerConfig, workerOptions, workerHelp, type WorkerConfig } from './config.js';
export type { Worker } from './worker.js';
export { encodePng, decodePng } from './image/png.js';
export { simPixels } from './engine/sim.js';
