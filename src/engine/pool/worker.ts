// Engine worker: owns one tfjs backend, the VGG19 weights and the caches, and runs one job at a time for the engine
// in the main thread. Heavy tensor work blocks this thread, never the server's.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { ensureVggWeights } from '../assets/vgg19-fetch.js';
import { EngineError, serializeError } from '../errors.js';
import type { EncodedImage, TransferEvent } from '../events.js';
import { fastTransfer, maxFastPixelsFor, StyleModelCache } from '../fast-style/index.js';
import { GramCache, gatysTransfer, loadVgg19, maxPixelsFor, type Vgg19 } from '../gatys/index.js';
import type { Job, StopRequest } from '../job.js';
import { initBackend, type BackendInfo } from '../runtime/backend.js';
import { CANCEL_FLAG, STOP_REQUESTS, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.js';

const port = parentPort!;
const config = workerData as WorkerConfig;
const gramCache = new GramCache(config.gramCacheSize);
const styleModels = new StyleModelCache(config.styleModelCacheSize);
let backend: BackendInfo;
let vgg: Vgg19 | undefined;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** The image with its bytes in an ArrayBuffer of their own: sharp's buffers may be external memory that cannot move. */
function movable(image: EncodedImage): EncodedImage {
  return { ...image, bytes: new Uint8Array(image.bytes) };
}

/** The event with its image bytes moved into transferable buffers, and the list of those buffers. */
function transferable(event: TransferEvent): [TransferEvent, ArrayBuffer[]] {
  switch (event.type) {
    case 'preview':
    case 'checkpoint':
    case 'done': {
      const image = movable(event.image);
      return [{ ...event, image }, [image.bytes.buffer as ArrayBuffer]];
    }
    case 'started':
    case 'step':
    case 'download':
      return [event, []];
  }
}

async function loadWeights(jobId: number): Promise<Vgg19> {
  if (vgg) return vgg;
  const folder = await ensureVggWeights({
    ...(config.weightsDir ? { explicitDir: config.weightsDir } : {}),
    allowDownload: config.allowDownload,
    onProgress: (p) => post({ type: 'event', jobId, event: { type: 'download', ...p } }),
  });
  vgg = await loadVgg19(folder);
  post({ type: 'weights', folder: vgg.source });
  return vgg;
}

/** The events of a job, from the engine that runs its kind. */
async function start(
  jobId: number,
  job: Job,
  stop: () => StopRequest | undefined,
): Promise<AsyncIterable<TransferEvent>> {
  switch (job.kind) {
    case 'GATYS':
      return gatysTransfer(job.params, {
        vgg: await loadWeights(jobId),
        gramCache,
        backend: backend.backend,
        maxPixels: maxPixelsFor(backend),
        stop,
      });
    case 'FAST':
      return fastTransfer(job.params, {
        model: await styleModels.get(job.params.model),
        backend: backend.backend,
        maxPixels: maxFastPixelsFor(backend),
        stop,
      });
  }
}

/** Runs a job, posting its events, then its end or its error. */
async function run(jobId: number, job: Job, cancel: Int32Array): Promise<void> {
  try {
    const events = await start(jobId, job, () => STOP_REQUESTS[Atomics.load(cancel, CANCEL_FLAG)]);
    for await (const event of events) {
      const [message, transfer] = transferable(event);
      post({ type: 'event', jobId, event: message }, transfer);
      // Let queued messages (stats requests, shutdown) in between steps; cancellation uses shared memory instead.
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
    switch (message.type) {
      case 'run':
        queue = queue.then(() => run(message.jobId, message.job, message.cancel));
        break;
      case 'stats':
        post({
          type: 'stats',
          requestId: message.requestId,
          stats: {
            numTensors: tf.memory().numTensors,
            gramCacheEntries: gramCache.size,
            styleModelEntries: styleModels.size,
          },
        });
        break;
      case 'shutdown':
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
