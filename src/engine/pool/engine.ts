// The engine as the rest of the program sees it: a pool of worker threads fed from one FIFO queue, one job per
// worker at a time. run() is an async iterable of a job's events; aborting its signal ends it within one step.
import os from 'node:os';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { EngineCrashedError, TransferAbortedError, deserializeError } from '../errors.js';
import type { TransferEvent } from '../events.js';
import { checkCheckpointEvery } from '../gatys/checkpoint.js';
import { checkJob, type Job } from '../job.js';
import type { BackendChoice } from '../runtime/backend-choice.js';
import type { BackendInfo } from '../runtime/backend.js';
import {
  CANCEL_FLAG,
  STOP_FLAG,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
  type WorkerStats,
} from './protocol.js';

export interface EngineOptions {
  /** Engine worker threads; each runs one job at a time. Default 1. */
  workers?: number;
  /** Backend to use (default: best that loads; env GRAMIAN_BACKEND). */
  backend?: BackendChoice | 'auto';
  /** Wasm threads per worker (default: cores / workers). */
  threads?: number;
  /** Folder with VGG19 weights (default env GRAMIAN_WEIGHTS, then the cache). */
  weightsDir?: string;
  /** Fetch VGG19 on first use when it is missing (default true). */
  allowDownload?: boolean;
  /** Style Gram sets each worker keeps across runs (default 16; 0 keeps none). */
  gramCacheSize?: number;
  /** Loaded fast-style models each worker keeps across runs (default 4). */
  styleModelCacheSize?: number;
  /** V8 heap limits of each worker thread (Node's resourceLimits): a runaway worker ends, not the process. */
  resourceLimits?: ResourceLimits;
  log?: (message: string) => void;
}

/** What the engine runs on and how busy it is, known in the main thread: reading it never waits for a worker. */
export interface EngineInfo extends BackendInfo {
  workers: number;
  /** Folder VGG19 was loaded from by a worker, or null before the first run needed it (Gatys, or scoring a result). */
  weights: string | null;
  /** Jobs waiting for a worker. */
  queued: number;
  /** Jobs running now. */
  running: number;
}

export interface RunOptions {
  /** Stops the job within one step; the iterator then throws TransferAbortedError. */
  signal?: AbortSignal;
  /** Like signal, but a Gatys job first yields a checkpoint event that `params.resume` can continue from. */
  checkpoint?: AbortSignal;
  /**
   * A Gatys job also yields a checkpoint event every N steps and runs on (0 or absent: off; DEFAULT_CHECKPOINT_EVERY
   * is the server's default). A fast pass has no checkpoints.
   */
  checkpointEvery?: number;
}

/** A queue of events from the worker to the consumer of run(). */
class QueuedJob {
  readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private readonly buffered: TransferEvent[] = [];
  private failure?: Error;
  private finished = false;
  private wake?: () => void;

  constructor(
    readonly id: number,
    readonly job: Job,
    readonly checkpointEvery: number,
  ) {}

  get done(): boolean {
    return this.finished;
  }

  push(event: TransferEvent): void {
    if (this.finished) return;
    this.buffered.push(event);
    this.wake?.();
  }

  end(error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = error;
    this.wake?.();
  }

  requestStop(checkpoint = false): void {
    Atomics.store(this.cancel, CANCEL_FLAG, STOP_FLAG[checkpoint ? 'checkpoint' : 'abort']);
  }

  async *events(): AsyncGenerator<TransferEvent> {
    for (;;) {
      const next = this.buffered.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.finished) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

interface Slot {
  worker: Worker;
  job?: QueuedJob;
  /** The worker said it is ending (its backend failed): no job goes to it; its exit starts a replacement. */
  retiring?: boolean;
}

/** A question sent to a worker, answered between its steps; a worker that dies rejects it. */
interface PendingRequest {
  slot: Slot;
  resolve: (stats: WorkerStats) => void;
  reject: (error: Error) => void;
}

/** The worker runs from TypeScript sources; ts-worker.mjs loads tsx in the new thread first. */
function workerEntry(): { bootstrap: URL; entry: string } {
  return {
    bootstrap: new URL('./ts-worker.mjs', import.meta.url),
    entry: new URL('./worker.ts', import.meta.url).href,
  };
}

export class Engine {
  private readonly queue: QueuedJob[] = [];
  private readonly slots: Slot[] = [];
  private readonly requests = new Map<number, PendingRequest>();
  /** Workers being started in place of ones that ended. */
  private readonly replacements = new Set<Promise<void>>();
  private nextId = 1;
  private closed = false;
  /** Set from the first worker's ready message: the same for every worker of this engine. */
  private backend!: BackendInfo;
  private weights: string | null = null;

  private constructor(
    private readonly config: WorkerConfig,
    private readonly resourceLimits: ResourceLimits | undefined,
    private readonly log: (message: string) => void,
  ) {}

  /** Starts the workers and waits until each has its backend; fails if none can load one. */
  static async start(options: EngineOptions = {}): Promise<Engine> {
    const workers = Math.max(1, options.workers ?? 1);
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    const config: WorkerConfig = {
      backend: options.backend ?? 'auto',
      threads: options.threads ?? Math.max(1, Math.floor(cores / workers)),
      ...(options.weightsDir ? { weightsDir: options.weightsDir } : {}),
      allowDownload: options.allowDownload ?? true,
      gramCacheSize: options.gramCacheSize ?? 16,
      styleModelCacheSize: options.styleModelCacheSize ?? 4,
    };
    const log = options.log ?? ((message) => console.error(`[gramian engine] ${message}`));
    const engine = new Engine(config, options.resourceLimits, log);
    try {
      await Promise.all(Array.from({ length: workers }, () => engine.spawn()));
    } catch (error) {
      await engine.close();
      throw error;
    }
    return engine;
  }

  private spawn(): Promise<Slot> {
    const { bootstrap, entry } = workerEntry();
    const worker = new Worker(bootstrap, {
      workerData: this.config,
      argv: [entry],
      ...(this.resourceLimits ? { resourceLimits: this.resourceLimits } : {}),
    });
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          this.backend ??= message.info;
          slot = { worker };
          this.slots.push(slot);
          resolve(slot);
          this.dispatch();
        } else if (message.type === 'fatal') {
          reject(deserializeError(message.error));
          void worker.terminate();
        } else if (slot) {
          this.onMessage(slot, message);
        }
      });
      worker.on('error', (error) => {
        if (!slot) reject(error);
        else this.onExit(slot, `engine worker failed: ${error.message}`);
      });
      worker.on('exit', (code) => {
        if (!slot) reject(new EngineCrashedError(`engine worker exited with code ${code} while starting`));
        else this.onExit(slot, `engine worker exited with code ${code}`);
      });
    });
  }

  private onMessage(slot: Slot, message: Exclude<FromWorker, { type: 'ready' | 'fatal' }>): void {
    switch (message.type) {
      case 'log':
        this.log(message.message);
        break;
      case 'weights':
        this.weights = message.folder;
        break;
      case 'stats':
        this.requests.get(message.requestId)?.resolve(message.stats);
        this.requests.delete(message.requestId);
        break;
      case 'event':
        if (slot.job?.id === message.jobId) slot.job.push(message.event);
        break;
      case 'end':
      case 'error':
        if (slot.job?.id === message.jobId) {
          slot.job.end(message.type === 'error' ? deserializeError(message.error) : undefined);
          slot.job = undefined;
          if (message.exiting) slot.retiring = true;
          this.dispatch();
        }
        break;
    }
  }

  /** A worker ended (crashed, or shut down): its job and its unanswered questions fail; a crash is replaced. */
  private onExit(slot: Slot, reason: string): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    const error = this.closed
      ? new TransferAbortedError('the engine is shutting down')
      : new EngineCrashedError(reason);
    slot.job?.end(error);
    slot.job = undefined;
    for (const [id, request] of this.requests) {
      if (request.slot !== slot) continue;
      this.requests.delete(id);
      request.reject(error);
    }
    if (this.closed) return;
    this.log(`${reason}; starting a new worker`);
    const replacement = this.spawn().then(
      () => {},
      (spawnError: Error) => this.log(`could not restart the engine worker: ${spawnError.message}`),
    );
    this.replacements.add(replacement);
    void replacement.finally(() => this.replacements.delete(replacement));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job || slot.retiring) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.job = job;
      slot.worker.postMessage({
        type: 'run',
        jobId: job.id,
        job: job.job,
        cancel: job.cancel,
        ...(job.checkpointEvery > 0 ? { checkpointEvery: job.checkpointEvery } : {}),
      } satisfies ToWorker);
    }
  }

  /** Jobs waiting for a worker, in order. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Runs a job: a Gatys transfer or a fast-style pass. Its parameters (and a fast job's model description) are
   * checked before it is queued (EngineInputError, StyleModelError); images and model files are checked by the
   * worker before any tensor work. Breaking out of the loop or aborting the signal stops the job. A checkpoint
   * request stops a fast pass without a checkpoint: a single pass has nothing to resume.
   */
  async *run(job: Job, options: RunOptions = {}): AsyncGenerator<TransferEvent> {
    if (this.closed) throw new EngineCrashedError('the engine is closed');
    checkJob(job);
    const checkpointEvery = checkCheckpointEvery(options.checkpointEvery);
    const { signal, checkpoint } = options;
    if (signal?.aborted || checkpoint?.aborted) throw new TransferAbortedError();
    const queued = new QueuedJob(this.nextId++, job, checkpointEvery);
    const stop = (withCheckpoint: boolean) => {
      const queuedAt = this.queue.indexOf(queued);
      if (queuedAt >= 0) {
        this.queue.splice(queuedAt, 1);
        queued.end(new TransferAbortedError());
      } else {
        queued.requestStop(withCheckpoint);
      }
    };
    const onAbort = () => stop(false);
    const onCheckpoint = () => stop(true);
    signal?.addEventListener('abort', onAbort, { once: true });
    checkpoint?.addEventListener('abort', onCheckpoint, { once: true });
    this.queue.push(queued);
    this.dispatch();
    try {
      yield* queued.events();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      checkpoint?.removeEventListener('abort', onCheckpoint);
      if (!queued.done) onAbort();
    }
  }

  /** Backend, weights and load, from what the main thread knows: never waits for a worker busy in a step. */
  info(): EngineInfo {
    if (!this.backend) throw new EngineCrashedError('no engine worker has started');
    return {
      ...this.backend,
      workers: this.slots.length,
      weights: this.weights,
      queued: this.queue.length,
      running: this.slots.filter((slot) => slot.job).length,
    };
  }

  /**
   * Tensors and cache entries alive in the first worker, asked of the worker itself: a busy worker answers after
   * its current step, and one that dies first rejects with EngineCrashedError.
   */
  stats(): Promise<WorkerStats> {
    const slot = this.slots[0];
    if (!slot || this.closed) return Promise.reject(new EngineCrashedError('no engine worker is running'));
    const requestId = this.nextId++;
    return new Promise<WorkerStats>((resolve, reject) => {
      this.requests.set(requestId, { slot, resolve, reject });
      slot.worker.postMessage({ type: 'stats', requestId } satisfies ToWorker);
    });
  }

  /**
   * Ends every worker at once, failing its job with EngineCrashedError, and starts fresh ones: what an operator does
   * when a backend is wedged (a lost GPU device, a stuck step). Resolves when the new workers are ready.
   */
  async restartWorkers(): Promise<void> {
    if (this.closed) throw new EngineCrashedError('the engine is closed');
    const ended = this.slots.map(
      (slot) =>
        new Promise<void>((resolve) => {
          slot.worker.once('exit', () => resolve());
          void slot.worker.terminate();
        }),
    );
    await Promise.all(ended);
    // Each exit has queued a replacement (onExit) before the listeners above ran.
    await Promise.all(this.replacements);
  }

  /** Fails queued jobs, stops running ones and ends the workers. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.end(new TransferAbortedError('the engine is shutting down'));
    const exits = this.slots.map(
      (slot) =>
        new Promise<void>((resolve) => {
          slot.job?.requestStop();
          slot.worker.once('exit', () => resolve());
          slot.worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
        }),
    );
    await Promise.all(exits);
    for (const slot of [...this.slots]) this.onExit(slot, 'engine closed');
  }
}
