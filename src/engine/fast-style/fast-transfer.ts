// A fast (feed-forward) style transfer: one pass of a trained network over the content image, or, past what one pass
// on the backend can hold (or with tileSize), the same pass in tiles (tiling.ts). Same event protocol as a Gatys run
// (started, one step, done), so the worker, the server and the CLI handle both alike.
import * as tf from '@tensorflow/tfjs';
import { EngineInputError, TransferAbortedError } from '../errors.js';
import { defaultFastSize, largestFastSide, resolveFastParams, type FastTransferParams } from './fast-params.js';
import type { Losses, TransferEvent } from '../events.js';
import { decodeRgb, encodeRgb, fitLongestSide, probeImage, recolor, type RgbImage } from '../image/index.js';
import type { StopRequest } from '../job.js';
import { planTiles, tiledPass, type NormTable, type TilePlan } from './tiling.js';
import type { StyleModel } from './types.js';

export interface FastTransferContext {
  model: StyleModel;
  /** Polled before the pass, between its layers and between tiles; any request ends it with TransferAbortedError. */
  stop?: () => StopRequest | undefined;
  /** Reported in the started event. */
  backend?: string;
  /**
   * Largest output (in pixels) one pass on the backend has memory for; see maxFastPixelsFor(). Default: no limit.
   * Larger outputs are stylised in tiles of at most this many pixels (halo included).
   */
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
  let tiles: TilePlan | undefined;
  if (params.tileSize !== undefined || output.width * output.height > maxPixels) {
    tiles = planTiles(output.width, output.height, {
      maxPixels,
      ...(params.tileSize ? { tileSize: params.tileSize } : {}),
    });
    if (!tiles) {
      throw new EngineInputError(
        'size',
        `${output.width}×${output.height} needs more memory than this backend has, even in tiles`,
        `size ≤ ${largest} for this image on this backend`,
      );
    }
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
  const finish = (stylized: tf.Tensor4D, content: tf.Tensor4D): tf.Tensor4D => {
    let y: tf.Tensor4D = stylized;
    if (params.strength < 1) y = tf.add(content, tf.mul(tf.sub(stylized, content), params.strength));
    if (params.preserveColors) y = recolor(y, content);
    return tf.clipByValue(tf.round(y), 0, 255);
  };
  const t0 = performance.now();
  const pixels = tiles
    ? await tiledRun(context.model, image, tiles, finish, stopped)
    : await singlePass(context.model, image, finish, stopped);
  const ms = performance.now() - t0;
  yield { type: 'step', step: 1, totalSteps: 1, scale: 1, contentLoss: 0, styleLoss: 0, tvLoss: 0, totalLoss: 0, ms };
  const result = await encodeRgb({ data: pixels, width: image.width, height: image.height }, 'png');
  yield { type: 'done', image: result, losses: { ...ZERO_LOSSES }, steps: 1, ms: performance.now() - began };
}

/** The whole image in one pass. */
async function singlePass(
  model: StyleModel,
  image: RgbImage,
  finish: (stylized: tf.Tensor4D, content: tf.Tensor4D) => tf.Tensor4D,
  stopped: () => boolean,
): Promise<Uint8Array> {
  const content = tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]);
  try {
    const stylized = model.stylize(content, { interrupt: stopped });
    let output: tf.Tensor4D;
    try {
      output = tf.tidy(() => finish(stylized, content));
    } finally {
      stylized.dispose();
    }
    // Read back asynchronously (a GPU backend computes while this waits); the pass's time includes the read.
    try {
      return Uint8Array.from(await output.data());
    } finally {
      output.dispose();
    }
  } finally {
    content.dispose();
  }
}

/**
 * The image in tiles normalised with the whole image's instance-norm statistics, made exact norm by norm: pass k
 * normalises norms 0 … k−1 with the statistics already measured and measures norm k's input over the tiles' cores,
 * each tile stopping there; the last pass makes the output. A pass up to norm k costs that prefix of the network,
 * so the statistics cost about (norms + 1) / 2 full passes: the deep norms need everything before them exact.
 *
 * Cheaper schemes were measured and rejected (amber.jpg, mosaic, 384² in 128-px tiles; mean absolute difference to a
 * single pass in 0..255 levels): statistics of one whole-image pass at half size give 14.1 (udnie 6.9); refining
 * them with tiled passes that re-measure every norm at once (each norm then normalised with statistics measured under
 * the previous pass's) diverges, 39, 73, 106, 93 … after 1, 2, 3, 4 passes (udnie 34, 60, 139, 61), because a norm
 * divides by its channels' standard deviations, some of them small, and only reaches 0 after as many passes as there
 * are norms (15 / 16). The same at 1536² (tiles of 512, statistics from 768²): 20.3, 94, 54, 112 (udnie 8.7, 129).
 */
async function tiledRun(
  model: StyleModel,
  image: RgbImage,
  tiles: TilePlan,
  finish: (stylized: tf.Tensor4D, content: tf.Tensor4D) => tf.Tensor4D,
  stopped: () => boolean,
): Promise<Uint8Array> {
  const statistics: NormTable = [];
  for (let norm = 0; norm < model.instanceNorms; norm++) {
    const pass = await tiledPass(model, image, tiles, { statistics, measure: norm, stopped });
    statistics[norm] = pass.statistics![norm]!;
  }
  const { pixels } = await tiledPass(model, image, tiles, { statistics, finish, stopped });
  return pixels!;
}
