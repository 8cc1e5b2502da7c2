// The engine as a pool of worker threads: jobs queued in order, one per worker, events back over a MessagePort.
export { Engine, type EngineInfo, type EngineOptions, type RunOptions } from './engine.js';
export type { WorkerStats } from './protocol.js';
