// Messages between the engine (main thread) and an engine worker. Images travel as ArrayBuffers in transfer lists.
import type { SerializedEngineError } from '../errors.js';
import type { TransferEvent } from '../events.js';
import type { Job, StopRequest } from '../job.js';
import type { BackendChoice } from '../runtime/backend-choice.js';
import type { BackendInfo } from '../runtime/backend.js';

export interface WorkerConfig {
  backend: BackendChoice | 'auto';
  /** Wasm threads for this worker. */
  threads?: number;
  /** GRAMIAN_WEIGHTS equivalent: a folder with VGG19 weights, searched before the cache. */
  weightsDir?: string;
  /** Fetch VGG19 on first use when it is nowhere on disk. */
  allowDownload: boolean;
  /** Style Gram sets kept across runs. */
  gramCacheSize: number;
  /** Loaded fast-style models kept across runs. */
  styleModelCacheSize: number;
}

/** What a worker holds right now; asked for between jobs or steps (a worker busy in a step answers after it). */
export interface WorkerStats {
  numTensors: number;
  gramCacheEntries: number;
  /** Fast-style models loaded and cached. */
  styleModelEntries: number;
}

export type ToWorker =
  /** checkpointEvery: a checkpoint event every N steps of a Gatys job (absent or 0: only on a checkpoint stop). */
  | { type: 'run'; jobId: number; job: Job; cancel: Int32Array; checkpointEvery?: number }
  | { type: 'stats'; requestId: number }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready'; info: BackendInfo }
  | { type: 'fatal'; error: SerializedEngineError }
  | { type: 'log'; message: string }
  /** VGG19 was loaded from this folder (once per worker, sent unasked so that info() never waits for a worker). */
  | { type: 'weights'; folder: string }
  | { type: 'event'; jobId: number; event: TransferEvent }
  /**
   * The job succeeded. `exiting`: the worker ends right after this (scoring the result failed inside the backend,
   * whose state cannot be trusted any more): the engine sends it no further job and starts a fresh one.
   */
  | { type: 'end'; jobId: number; exiting?: boolean }
  /** `exiting`: the worker ends right after this (its backend failed): the engine sends it no further job. */
  | { type: 'error'; jobId: number; error: SerializedEngineError; exiting?: boolean }
  | { type: 'stats'; requestId: number; stats: WorkerStats };

/** Index in a job's shared Int32Array that the main thread sets to stop the job at the next step. */
export const CANCEL_FLAG = 0;
/** The flag's value for each request: stop, or save a checkpoint and stop (0: carry on). */
export const STOP_FLAG: Record<StopRequest, number> = { abort: 1, checkpoint: 2 };
/** What each value of the flag asks for, read by the worker. */
export const STOP_REQUESTS: Record<number, StopRequest | undefined> = {
  [STOP_FLAG.abort]: 'abort',
  [STOP_FLAG.checkpoint]: 'checkpoint',
};
