// Engine worker: owns one tfjs backend, the VGG19 weights and the caches, and runs one job at a time for the engine
// in the main thread. Heavy tensor work blocks this thread, never the server's.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { ensureVggWeights } from '../assets/vgg19-fetch.js';
import { DeviceLostError, EngineError, serializeError } from '../errors.js';
import type { DoneEvent, EncodedImage, TransferEvent } from '../events.js';
import { fastTransfer, maxFastPixelsFor, StyleModelCache } from '../fast-style/index.js';
import {
  GramCache,
  gatysTransfer,
  loadVgg19,
  maxPixelsFor,
  QUALITY_DEFAULTS,
  scoreQuality,
  type StyleInput,
  type Vgg19,
} from '../gatys/index.js';
import type { Job, StopRequest } from '../job.js';
import { initBackend, type BackendInfo } from '../runtime/backend.js';
import { destroyDevice, deviceLost } from '../runtime/webgpu.js';
import { CANCEL_FLAG, STOP_REQUESTS, type FromWorker, type ToWorker, type WorkerConfig } from './protocol.js';

const port = parentPort!;
const config = workerData as WorkerConfig;
const gramCache = new GramCache(config.gramCacheSize);
const styleModels = new StyleModelCache(config.styleModelCacheSize);
let backend: BackendInfo;
let vgg: Vgg19 | undefined;
/** The job running now, whose end (or error) has not been posted yet. */
let running: number | undefined;
/** On WebGPU: settles with the error to report once the GPU device is lost. */
let lost: Promise<DeviceLostError> | undefined;

/**
 * TEST ONLY (test/engine-webgpu.test.ts), faults a driver reset would cause, on the webgpu backend; read once, when the
 * worker starts. GRAMIAN_FAULT_DEVICE_LOSS_AFTER_STEPS=N destroys the GPU device after the N-th step event of every
 * job; GRAMIAN_FAULT_DEVICE_LOSS_WHEN_IDLE=1 destroys it once a job has ended, while the worker is idle.
 */
const FAULT_DEVICE_LOSS_AFTER_STEPS = Math.max(0, Number(process.env.GRAMIAN_FAULT_DEVICE_LOSS_AFTER_STEPS) || 0);
const FAULT_DEVICE_LOSS_WHEN_IDLE = process.env.GRAMIAN_FAULT_DEVICE_LOSS_WHEN_IDLE === '1';
/** TEST ONLY (test/engine-worker.test.ts): scoring a result fails as running out of memory inside the backend would. */
const FAULT_QUALITY = process.env.GRAMIAN_FAULT_QUALITY === '1';
/** How long a job that failed inside the backend waits for a device loss to be reported as its cause. */
const DEVICE_LOSS_GRACE_MS = 1000;

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
    case 'done': {
      const image = movable(event.image);
      return [{ ...event, image }, [image.bytes.buffer as ArrayBuffer]];
    }
    case 'checkpoint': {
      // encodeCheckpoint's bytes own their buffer whole: moved as they are, never copied (tens of MB with L-BFGS).
      const whole = event.state.byteOffset === 0 && event.state.byteLength === event.state.buffer.byteLength;
      const state = whole ? event.state : new Uint8Array(event.state);
      return [{ ...event, state }, [state.buffer as ArrayBuffer]];
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
  checkpointEvery: number | undefined,
): Promise<AsyncIterable<TransferEvent>> {
  switch (job.kind) {
    case 'GATYS':
      return gatysTransfer(job.params, {
        vgg: await loadWeights(jobId),
        gramCache,
        backend: backend.backend,
        maxPixels: maxPixelsFor(backend),
        stop,
        ...(checkpointEvery ? { checkpointEvery } : {}),
      });
    case 'FAST':
      // A single pass, over in one step: nothing to checkpoint (checkpointEvery does not apply).
      return fastTransfer(job.params, {
        model: await styleModels.get(job.params.model),
        backend: backend.backend,
        maxPixels: maxFastPixelsFor(backend),
        stop,
      });
  }
}

/**
 * The images a job's result is scored against: its content, and its styles (a Gatys run's style images with their
 * weights; a fast run's model's reference painting, when the job carries one). Null when the job is not scored.
 */
function qualityTargets(job: Job): { content: Uint8Array; styles: StyleInput[]; hasStyle: boolean } | null {
  if (job.quality === false) return null;
  switch (job.kind) {
    case 'GATYS':
      return { content: job.params.content, styles: job.params.styles, hasStyle: true };
    case 'FAST':
      return job.styleReference
        ? { content: job.params.content, styles: [{ image: job.styleReference, weight: 1 }], hasStyle: true }
        : // No painting to compare with: the content stands in for the style (scoreQuality needs one), and only the
          // content score is kept.
          { content: job.params.content, styles: [{ image: job.params.content, weight: 1 }], hasStyle: false };
  }
}

/**
 * The done event with the result's quality score (measured on a copy downscaled to QUALITY_DEFAULTS.size, so a large
 * or tiled result costs no more than a small one), after the run has released its own tensors. A score that cannot
 * be measured leaves the event as it is, and the run succeeds without one: `retire` when the failure came from inside
 * the backend (out of memory, a wasm trap), whose state can no longer be trusted.
 */
async function withQuality(jobId: number, job: Job, done: DoneEvent): Promise<{ done: DoneEvent; retire: boolean }> {
  const targets = qualityTargets(job);
  if (!targets) return { done, retire: false };
  try {
    if (FAULT_QUALITY) throw new Error('Out of memory (GRAMIAN_FAULT_QUALITY)');
    const score = await scoreQuality(await loadWeights(jobId), {
      result: done.image.bytes,
      content: targets.content,
      styles: targets.styles,
      size: QUALITY_DEFAULTS.size,
    });
    return {
      done: { ...done, quality: { style: targets.hasStyle ? score.style : null, content: score.content } },
      retire: false,
    };
  } catch (error) {
    post({ type: 'log', message: `job ${jobId} succeeded without a quality score: ${(error as Error).message}` });
    return { done, retire: !(error instanceof EngineError) };
  }
}

/** Runs a job, posting its events, then its end or its error. */
async function run(jobId: number, job: Job, cancel: Int32Array, checkpointEvery?: number): Promise<void> {
  running = jobId;
  let steps = 0;
  try {
    const events = await start(jobId, job, () => STOP_REQUESTS[Atomics.load(cancel, CANCEL_FLAG)], checkpointEvery);
    let done: DoneEvent | undefined;
    for await (const event of events) {
      // The last event: held until the run has ended and freed its tensors, then scored and posted.
      if (event.type === 'done') {
        done = event;
        continue;
      }
      const [message, transfer] = transferable(event);
      post({ type: 'event', jobId, event: message }, transfer);
      if (event.type === 'step' && ++steps === FAULT_DEVICE_LOSS_AFTER_STEPS && lost) destroyDevice();
      // Let queued messages (stats requests, shutdown) in between steps; cancellation uses shared memory instead.
      await new Promise((resolve) => setImmediate(resolve));
    }
    let retire = false;
    if (done) {
      const scored = await withQuality(jobId, job, done);
      retire = scored.retire;
      const [message, transfer] = transferable(scored.done);
      post({ type: 'event', jobId, event: message }, transfer);
    }
    running = undefined;
    post({ type: 'end', jobId, ...(retire ? { exiting: true } : {}) });
    if (retire) process.exit(1);
    if (FAULT_DEVICE_LOSS_WHEN_IDLE && lost) destroyDevice();
  } catch (error) {
    // A lost GPU device shows first as a failed step (a refused read back), and is reported a moment later: wait
    // for it, so that the job ends with the cause (DEVICE_LOST), not the symptom.
    const loss =
      lost && !(error instanceof EngineError)
        ? await Promise.race([lost, new Promise<undefined>((resolve) => setTimeout(resolve, DEVICE_LOSS_GRACE_MS))])
        : undefined;
    if (running !== jobId) return; // the device-loss handler has ended it
    running = undefined;
    // An error that is not the engine's own came from inside the backend (out of memory, a wasm trap, a lost GPU):
    // its state cannot be trusted any more, so end this worker and let the engine start a fresh one.
    const exiting = !(error instanceof EngineError);
    post({ type: 'error', jobId, error: serializeError(loss ?? error), exiting });
    if (exiting) process.exit(1);
  }
}

/**
 * On WebGPU, a lost device (driver reset, GPU removed or hung, device destroyed) ends the job running on it with
 * DeviceLostError, posted before this worker exits, and then ends the worker, busy or idle: nothing can run on that
 * device any more, and the engine starts a fresh worker (with a new device) in its place.
 */
function watchDevice(): void {
  lost = deviceLost().then((info) => new DeviceLostError(info.reason, info.message));
  void lost.then((error) => {
    post({ type: 'log', message: error.message });
    if (running !== undefined) post({ type: 'error', jobId: running, error: serializeError(error), exiting: true });
    running = undefined;
    process.exit(1);
  });
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
  if (backend.tfBackend === 'webgpu') watchDevice();
  // Jobs are serialised by the engine; a promise chain keeps that true even if two arrive together.
  let queue = Promise.resolve();
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'run':
        queue = queue.then(() => run(message.jobId, message.job, message.cancel, message.checkpointEvery));
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
