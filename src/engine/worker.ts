// Engine worker: owns one tfjs backend, the VGG19 weights and the Gram cache, and runs one job at a time for the
// engine in the main thread. Heavy tensor work blocks this thread, never the server's.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendInfo } from './backend.js';
import { EngineError, serializeError } from './errors.js';
import type { TransferEvent } from './events.js';
import { maxFastPixelsFor, type StylizeParams } from './fast-style/fast-params.js';
import { fastTransfer } from './fast-style/fast-transfer.js';
import { StyleModelCache } from './fast-style/model-cache.js';
import { gatysTransfer } from './gatys.js';
import { maxPixelsFor } from './params.js';
import { GramCache } from './gram-cache.js';
import type { Vgg19 } from './vgg19.js';
import { loadVgg19 } from './weights.js';
import { ensureVggWeights } from './weights-fetch.js';
import { CANCEL_FLAG, STOP_REQUESTS, type FromWorker, type ToWorker, type WorkerConfig } from './worker-protocol.js';

const port = parentPort!;
const config = workerData as WorkerConfig;
const gramCache = new GramCache(config.gramCacheSize);
const styleModels = new StyleModelCache(config.styleModelCacheSize ?? 4);
let backend: BackendInfo;
let vgg: Vgg19 | undefined;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** Copies bytes into an ArrayBuffer of their own: sharp's buffers may be external memory that cannot be transferred. */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** The event with its image bytes moved into transferable buffers, and the list of those buffers. */
function transferable(event: TransferEvent): [TransferEvent, ArrayBuffer[]] {
  if (event.type === 'preview') {
    const bytes = ownBytes(event.bytes);
    return [{ ...event, bytes }, [bytes.buffer as ArrayBuffer]];
  }
  if (event.type === 'checkpoint') {
    const image = ownBytes(event.image);
    return [{ ...event, image }, [image.buffer as ArrayBuffer]];
  }
  if (event.type === 'done') {
    const image = ownBytes(event.image);
    return [{ ...event, image }, [image.buffer as ArrayBuffer]];
  }
  return [event, []];
}

async function loadWeights(jobId: number): Promise<Vgg19> {
  if (vgg) return vgg;
  const folder = await ensureVggWeights({
    ...(config.weightsDir ? { explicitDir: config.weightsDir } : {}),
    allowDownload: config.allowDownload,
    onProgress: (p) => post({ type: 'event', jobId, event: { type: 'download', ...p } }),
  });
  vgg = await loadVgg19(folder);
  return vgg;
}

/** Posts a job's events, then its end or its error. */
async function pump(jobId: number, events: () => Promise<AsyncIterable<TransferEvent>>): Promise<void> {
  try {
    for await (const event of await events()) {
      const [message, transfer] = transferable(event);
      post({ type: 'event', jobId, event: message }, transfer);
      // Let queued messages (info requests, shutdown) in between steps; cancellation uses shared memory instead.
      await new Promise((resolve) => setImmediate(resolve));
    }
    post({ type: 'end', jobId });
  } catch (error) {
    post({ type: 'error', jobId, error: serializeError(error) });
    // An error that is not the engine's own came from inside the backend (out of memory, a wasm trap): its state
    // cannot be trusted any more, so end this worker and let the engine start a fresh one.
    if (!(error instanceof EngineError)) process.exit(1);
  }
}

function run(jobId: number, params: Parameters<typeof gatysTransfer>[0], cancel: Int32Array): Promise<void> {
  return pump(jobId, async () =>
    gatysTransfer(params, {
      vgg: await loadWeights(jobId),
      gramCache,
      backend: backend.backend,
      maxPixels: maxPixelsFor(backend.tfBackend),
      stop: () => STOP_REQUESTS[Atomics.load(cancel, CANCEL_FLAG)],
    }),
  );
}

/** A fast-style run; the model comes from this worker's cache (loaded on first use). */
function stylize(jobId: number, params: StylizeParams, cancel: Int32Array): Promise<void> {
  return pump(jobId, async () =>
    fastTransfer(params, {
      model: await styleModels.get(params.model),
      backend: backend.backend,
      maxPixels: maxFastPixelsFor(backend.tfBackend),
      stop: () => STOP_REQUESTS[Atomics.load(cancel, CANCEL_FLAG)],
    }),
  );
}

async function main(): Promise<void> {
  try {
    backend = await initBackend({
      backend: config.backend,
      ...(config.threads ? { threads: config.threads } : {}),
      log: (message) => post({ type: 'log', message }),
    });
  } catch (error) {
    post({ type: 'fatal', error: serializeError(error) });
    return;
  }
  // Jobs are serialised by the engine; a promise chain keeps that true even if two arrive together.
  let queue = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    if (message.type === 'run') {
      queue = queue.then(() => run(message.jobId, message.params, message.cancel));
    } else if (message.type === 'stylize') {
      queue = queue.then(() => stylize(message.jobId, message.params, message.cancel));
    } else if (message.type === 'info') {
      post({
        type: 'info',
        requestId: message.requestId,
        info: { ...backend, weights: vgg?.source ?? null, numTensors: tf.memory().numTensors, gramCacheEntries: gramCache.size, styleModelEntries: styleModels.size },
      });
    } else if (message.type === 'shutdown') {
      gramCache.clear();
      styleModels.clear();
      vgg?.dispose();
      // The threaded wasm module keeps its pthread workers alive; exiting is the way to release them.
      process.exit(0);
    }
  });
  post({ type: 'ready', info: backend });
}

void main();
