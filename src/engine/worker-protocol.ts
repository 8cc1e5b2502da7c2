// Messages between the engine (main thread) and an engine worker. Images travel as ArrayBuffers in transfer lists.
import type { BackendInfo } from './backend.js';
import type { BackendChoice } from './backend-choice.js';
import type { SerializedEngineError } from './errors.js';
import type { TransferEvent } from './events.js';
import type { StylizeParams } from './fast-style/fast-params.js';
import type { StopRequest } from './gatys.js';
import type { TransferParams } from './params.js';

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

export interface WorkerInfo extends BackendInfo {
  /** Folder the VGG19 weights were loaded from, once a Gatys run needed them. */
  weights: string | null;
  numTensors: number;
  gramCacheEntries: number;
  /** Fast-style models loaded and cached. */
  styleModelEntries: number;
}

export type ToWorker =
  | { type: 'run'; jobId: number; params: TransferParams; cancel: Int32Array }
  | { type: 'stylize'; jobId: number; params: StylizeParams; cancel: Int32Array }
  | { type: 'info'; requestId: number }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ready'; info: BackendInfo }
  | { type: 'fatal'; error: SerializedEngineError }
  | { type: 'log'; message: string }
  | { type: 'event'; jobId: number; event: TransferEvent }
  | { type: 'end'; jobId: number }
  | { type: 'error'; jobId: number; error: SerializedEngineError }
  | { type: 'info'; requestId: number; info: WorkerInfo };

/** Index in a job's shared Int32Array that the main thread sets to stop the job at the next step. */
export const CANCEL_FLAG = 0;
/** The flag's value for each request: stop, or save a checkpoint and stop (0: carry on). */
export const STOP_FLAG: Record<StopRequest, number> = { abort: 1, checkpoint: 2 };
/** What each value of the flag asks for, read by the worker. */
export const STOP_REQUESTS: Record<number, StopRequest | undefined> = Object.fromEntries(Object.entries(STOP_FLAG).map(([request, value]) => [value, request as StopRequest]));
