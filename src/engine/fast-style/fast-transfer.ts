// A fast (feed-forward) style transfer: one pass of a trained network over the content image. Same event protocol as
// a Gatys run (started, one step, done), so the worker, the server and the CLI handle both alike.
import * as tf from '@tensorflow/tfjs';
import { EngineInputError, TransferAbortedError } from '../errors.js';
import { defaultFastSize, largestFastSide, resolveFastParams, type FastTransferParams } from './fast-params.js';
import type { Losses, TransferEvent } from '../events.js';
import { decodeRgb, encodeRgb, fitLongestSide, probeImage, recolor } from '../image/index.js';
import type { StopRequest } from '../job.js';
import type { StyleModel } from './types.js';

export interface FastTransferContext {
  model: StyleModel;
  /** Polled before the pass and between its layers; any request ends the run with TransferAbortedError. */
  stop?: () => StopRequest | undefined;
  /** Reported in the started event. */
  backend?: string;
  /** Largest output (in pixels) the backend has memory for; see maxFastPixelsFor(). Default: no limit. */
  maxPixels?: number;
}

const ZERO_LOSSES: Losses = { content: 0, style: 0, tv: 0, total: 0 };

/**
 * Runs one fast transfer and yields started, step and done. Parameters and the image are checked before any tensor
 * work (EngineInputError); every tensor is released however the run ends.
 */
export async function* fastTransfer(
  input: FastTransferParams,
  context: FastTransferContext,
): AsyncGenerator<TransferEvent, void, undefined> {
  const params = resolveFastParams(input);
  const maxPixels = context.maxPixels ?? Number.POSITIVE_INFINITY;
  const probe = await probeImage(params.content, 'content');
  const largest = largestFastSide(probe.width, probe.height, maxPixels);
  const size = params.size ?? defaultFastSize(probe.width, probe.height, maxPixels);
  const output = fitLongestSide(probe.width, probe.height, size);
  if (output.width * output.height > maxPixels) {
    throw new EngineInputError(
      'size',
      `${output.width}×${output.height} needs more memory than this backend has`,
      `size ≤ ${largest} for this image on this backend`,
    );
  }
  const began = performance.now();
  yield {
    type: 'started',
    width: output.width,
    height: output.height,
    totalSteps: 1,
    scaleSizes: [size],
    backend: context.backend ?? tf.getBackend(),
  };
  const stopped = () => context.stop?.() !== undefined;
  if (stopped()) throw new TransferAbortedError();
  const image = await decodeRgb(params.content, 'content', output.width, output.height);
  if (stopped()) throw new TransferAbortedError();
  const content = tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]);
  let pixels: Uint8Array;
  let ms: number;
  try {
    const t0 = performance.now();
    const stylized = context.model.stylize(content, { interrupt: stopped });
    let output: tf.Tensor4D;
    try {
      output = tf.tidy(() => {
        let y: tf.Tensor4D = stylized;
        if (params.strength < 1) y = tf.add(content, tf.mul(tf.sub(stylized, content), params.strength));
        if (params.preserveColors) y = recolor(y, content);
        return tf.clipByValue(tf.round(y), 0, 255);
      });
    } finally {
      stylized.dispose();
    }
    // Read back asynchronously (a GPU backend computes while this waits); the pass's time includes the read.
    try {
      pixels = Uint8Array.from(await output.data());
    } finally {
      output.dispose();
    }
    ms = performance.now() - t0;
  } finally {
    content.dispose();
  }
  yield { type: 'step', step: 1, totalSteps: 1, scale: 1, contentLoss: 0, styleLoss: 0, tvLoss: 0, totalLoss: 0, ms };
  const result = await encodeRgb({ data: pixels, width: image.width, height: image.height }, 'png');
  yield { type: 'done', image: result, losses: { ...ZERO_LOSSES }, steps: 1, ms: performance.now() - began };
}
