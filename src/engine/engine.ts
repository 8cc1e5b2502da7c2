// The engine as the rest of the program sees it: a pool of worker threads fed from one FIFO queue, one job per
// worker at a time. transfer() is an async iterable of events; aborting its signal ends it within one step.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BackendInfo } from './backend.js';
import type { BackendChoice } from './backend-choice.js';
import { EngineCrashedError, TransferAbortedError, deserializeError } from './errors.js';
import type { TransferEvent } from './events.js';
import { resolveFastParams, type StylizeParams } from './fast-style/fast-params.js';
import { checkModelSource } from './fast-style/model-source.js';
import { resolveTransferParams, type TransferParams } from './params.js';
import { CANCEL_FLAG, STOP_FLAG, type FromWorker, type ToWorker, type WorkerConfig, type WorkerInfo } from './worker-protocol.js';

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
  /** Style Gram sets each worker keeps across runs (default 16). */
  gramCacheSize?: number;
  /** Loaded fast-style models each worker keeps across runs (default 4). */
  styleModelCacheSize?: number;
  log?: (message: string) => void;
}

export interface EngineInfo extends BackendInfo {
  workers: number;
  /** Folder VGG19 was loaded from by the first worker, or null before the first Gatys run. */
  weights: string | null;
  /** Jobs waiting for a worker. */
  queued: number;
  /** Jobs running now. */
  running: number;
  /** Tensors alive in the first worker (weights and caches included). */
  numTensors: number;
  /** Fast-style models the first worker has loaded and cached. */
  styleModelEntries: number;
}

export interface TransferOptions {
  /** Stops the job within one step; the iterator then throws TransferAbortedError. */
  signal?: AbortSignal;
  /** Like signal, but the job first yields a checkpoint event that `params.resume` can continue from. */
  checkpoint?: AbortSignal;
}

/** What a job asks the worker to run: a Gatys transfer or a fast-style pass. */
type JobRequest = { type: 'run'; params: TransferParams } | { type: 'stylize'; params: StylizeParams };

/** A queue of events from the worker to the consumer of transfer() or stylize(). */
class Job {
  readonly cancel = new Int32Array(new SharedArrayBuffer(4));
  private readonly buffered: TransferEvent[] = [];
  private failure?: Error;
  private finished = false;
  private wake?: () => void;

  constructor(
    readonly id: number,
    readonly request: JobRequest,
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
  job?: Job;
  info: BackendInfo;
}

/** The worker runs from TypeScript sources; ts-worker.mjs loads tsx in the new thread first. */
function workerEntry(): { bootstrap: URL; entry: string } {
  return { bootstrap: new URL('./ts-worker.mjs', import.meta.url), entry: new URL('./worker.ts', import.meta.url).href };
}

export class Engine {
  private readonly queue: Job[] = [];
  private readonly slots: Slot[] = [];
  private readonly infoRequests = new Map<number, (info: WorkerInfo) => void>();
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly config: WorkerConfig,
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
    const engine = new Engine(config, options.log ?? ((message) => console.error(`[gramian engine] ${message}`)));
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
    const worker = new Worker(bootstrap, { workerData: this.config, argv: [entry] });
    return new Promise((resolve, reject) => {
      let slot: Slot | undefined;
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          slot = { worker, info: message.info };
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
        else this.onCrash(slot, `engine worker failed: ${error.message}`);
      });
      worker.on('exit', (code) => {
        if (!slot) reject(new EngineCrashedError(`engine worker exited with code ${code} while starting`));
        else this.onCrash(slot, `engine worker exited with code ${code}`);
      });
    });
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    switch (message.type) {
      case 'log':
        this.log(message.message);
        break;
      case 'info':
        this.infoRequests.get(message.requestId)?.(message.info);
        this.infoRequests.delete(message.requestId);
        break;
      case 'event':
        if (slot.job?.id === message.jobId) slot.job.push(message.event);
        break;
      case 'end':
      case 'error':
        if (slot.job?.id === message.jobId) {
          slot.job.end(message.type === 'error' ? deserializeError(message.error) : undefined);
          slot.job = undefined;
          this.dispatch();
        }
        break;
    }
  }

  /** A worker died: its job fails, and a fresh worker takes its place. */
  private onCrash(slot: Slot, reason: string): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.job?.end(new EngineCrashedError(reason));
    slot.job = undefined;
    if (this.closed) return;
    this.log(`${reason}; starting a new worker`);
    this.spawn().catch((error: Error) => this.log(`could not restart the engine worker: ${error.message}`));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      const job = this.queue.shift();
      if (!job) return;
      slot.job = job;
      const { request } = job;
      const message: ToWorker =
        request.type === 'run'
          ? { type: 'run', jobId: job.id, params: request.params, cancel: job.cancel }
          : { type: 'stylize', jobId: job.id, params: request.params, cancel: job.cancel };
      slot.worker.postMessage(message);
    }
  }

  /** Jobs waiting for a worker, in order. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Runs a Gatys transfer. Parameters are validated before it is queued (EngineInputError); images are checked by
   * the worker before any tensor work. Breaking out of the loop or aborting the signal stops the job.
   */
  async *transfer(params: TransferParams, options: TransferOptions = {}): AsyncGenerator<TransferEvent> {
    if (this.closed) throw new EngineCrashedError('the engine is closed');
    resolveTransferParams(params);
    yield* this.submit({ type: 'run', params }, options);
  }

  /**
   * Runs a fast (feed-forward) style transfer with a trained model: events started, one step, done. Parameters and
   * the model's description are checked before it is queued (EngineInputError, StyleModelError); the worker loads the
   * model (StyleModelError if its files are bad) and keeps it for later runs. Aborting the signal stops the job
   * between layers of the network. A checkpoint request simply stops it: a single pass has nothing to resume.
   */
  async *stylize(params: StylizeParams, options: TransferOptions = {}): AsyncGenerator<TransferEvent> {
    if (this.closed) throw new EngineCrashedError('the engine is closed');
    resolveFastParams(params);
    checkModelSource(params?.model);
    yield* this.submit({ type: 'stylize', params }, options);
  }

  /** Queues a job and yields its events; breaking out of the loop or aborting the signal stops it. */
  private async *submit(request: JobRequest, options: TransferOptions): AsyncGenerator<TransferEvent> {
    const { signal, checkpoint } = options;
    if (signal?.aborted || checkpoint?.aborted) throw new TransferAbortedError();
    const job = new Job(this.nextId++, request);
    const stop = (withCheckpoint: boolean) => {
      const queuedAt = this.queue.indexOf(job);
      if (queuedAt >= 0) {
        this.queue.splice(queuedAt, 1);
        job.end(new TransferAbortedError());
      } else {
        job.requestStop(withCheckpoint);
      }
    };
    const onAbort = () => stop(false);
    const onCheckpoint = () => stop(true);
    signal?.addEventListener('abort', onAbort, { once: true });
    checkpoint?.addEventListener('abort', onCheckpoint, { once: true });
    this.queue.push(job);
    this.dispatch();
    try {
      yield* job.events();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      checkpoint?.removeEventListener('abort', onCheckpoint);
      if (!job.done) onAbort();
    }
  }

  /** Backend and weights as seen by the first worker, plus the queue. */
  async info(): Promise<EngineInfo> {
    const slot = this.slots[0];
    if (!slot) throw new EngineCrashedError('no engine worker is running');
    const requestId = this.nextId++;
    const info = await new Promise<WorkerInfo>((resolve) => {
      this.infoRequests.set(requestId, resolve);
      slot.worker.postMessage({ type: 'info', requestId } satisfies ToWorker);
    });
    return {
      ...info,
      workers: this.slots.length,
      queued: this.queue.length,
      running: this.slots.filter((s) => s.job).length,
    };
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
    for (const slot of this.slots.splice(0)) slot.job?.end(new TransferAbortedError('the engine is shutting down'));
  }
}
