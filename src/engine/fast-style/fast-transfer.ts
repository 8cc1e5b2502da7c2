// A fast (feed-forward) style transfer: one pass of a trained network over the content image. Same event protocol as
// a Gatys run (started, one step, done), so the worker, the server and the CLI handle both alike.
import * as tf from '@tensorflow/tfjs';
import { recolor } from '../color.js';
import { EngineInputError, TransferAbortedError } from '../errors.js';
import type { Losses, TransferEvent } from '../events.js';
import type { StopRequest } from '../gatys.js';
import { decodeRgb, encodeRgb, fitLongestSide, probeImage } from '../image.js';
import { largestSideWithin } from '../params.js';
import type { StyleModel, StyleModelSource } from './types.js';

export interface FastTransferParams {
  /** Encoded content image (JPEG, PNG, WebP, …). */
  content: Uint8Array;
  /** Longest side of the output in pixels. Default: the content's own, capped at what the backend can hold. */
  size?: number;
  /** How much of the stylized image to keep, blended over the content: 0 = the content, 1 (default) = stylized. */
  strength?: number;
  /** Keep the content's colours: the stylized luminance with the content's chroma. Default false. */
  preserveColors?: boolean;
}

/** A fast transfer through the engine: the parameters and the model to run (loaded and cached by the worker). */
export interface StylizeParams extends FastTransferParams {
  model: StyleModelSource;
}

export interface ResolvedFastParams {
  content: Uint8Array;
  size?: number;
  strength: number;
  preserveColors: boolean;
}

export interface FastTransferContext {
  model: StyleModel;
  /** Polled before the pass and between its layers; any request ends the run with TransferAbortedError. */
  stop?: () => StopRequest | undefined;
  /** Reported in the started event. */
  backend?: string;
  /** Largest output (in pixels) the backend has memory for; see maxFastPixelsFor(). Default: no limit. */
  maxPixels?: number;
}

export const FAST_LIMITS = {
  size: { min: 8, max: 4096 },
  strength: { min: 0, max: 1 },
} as const;

export const FAST_DEFAULTS = { strength: 1, preserveColors: false } as const;

const ZERO_LOSSES: Losses = { content: 0, style: 0, tv: 0, total: 0 };

/**
 * Output pixels a forward pass can afford. Freeing each layer's input as soon as its output exists, a pass peaks at
 * about 0.65 KB of tensors per output pixel on wasm (measured: 1024² 0.67 GiB, 1536² 1.45 GiB of tensors and 2.9 GiB
 * RSS). The threaded wasm heap stops at 4 GiB: 2048² (about 2.7 GiB of tensors) did not finish there, so wasm is
 * capped at 1536². Native TensorFlow has the machine's memory.
 */
export function maxFastPixelsFor(tfBackend: string): number {
  return tfBackend === 'tensorflow' ? 4096 * 4096 : 1536 * 1536;
}

/** Validates fast-transfer parameters; throws EngineInputError naming the field and the valid values. */
export function resolveFastParams(params: FastTransferParams): ResolvedFastParams {
  if (params === null || typeof params !== 'object') throw new EngineInputError('params', 'must be an object');
  const { content, size, strength = FAST_DEFAULTS.strength, preserveColors = FAST_DEFAULTS.preserveColors } = params;
  if (!(content instanceof Uint8Array) || content.byteLength === 0) {
    throw new EngineInputError('content', 'empty or missing image', 'a non-empty JPEG, PNG, WebP, GIF, TIFF or AVIF file');
  }
  if (size !== undefined && size !== null && (!Number.isInteger(size) || size < FAST_LIMITS.size.min || size > FAST_LIMITS.size.max)) {
    throw new EngineInputError('size', `must be an integer, got ${size}`, `${FAST_LIMITS.size.min}..${FAST_LIMITS.size.max}, or omitted for the content's own size`);
  }
  if (typeof strength !== 'number' || !Number.isFinite(strength) || strength < FAST_LIMITS.strength.min || strength > FAST_LIMITS.strength.max) {
    throw new EngineInputError('strength', `must be a number from 0 to 1, got ${strength}`, `${FAST_LIMITS.strength.min}..${FAST_LIMITS.strength.max}`);
  }
  if (typeof preserveColors !== 'boolean') throw new EngineInputError('preserveColors', `must be true or false, got ${String(preserveColors)}`, 'true, false');
  return { content, ...(size != null ? { size } : {}), strength, preserveColors };
}

/**
 * Runs one fast transfer and yields started, step and done. Parameters and the image are checked before any tensor
 * work (EngineInputError); every tensor is released however the run ends.
 */
export async function* fastTransfer(input: FastTransferParams, context: FastTransferContext): AsyncGenerator<TransferEvent, void, undefined> {
  const params = resolveFastParams(input);
  const maxPixels = context.maxPixels ?? Number.POSITIVE_INFINITY;
  const probe = await probeImage(params.content, 'content');
  const largest = Math.min(largestSideWithin(probe.width, probe.height, maxPixels), FAST_LIMITS.size.max);
  const size = params.size ?? Math.min(Math.max(probe.width, probe.height), largest);
  const output = fitLongestSide(probe.width, probe.height, size);
  if (output.width * output.height > maxPixels) {
    throw new EngineInputError('size', `${output.width}×${output.height} needs more memory than this backend has`, `size ≤ ${largest} for this image on this backend`);
  }
  const began = performance.now();
  yield { type: 'started', width: output.width, height: output.height, totalSteps: 1, scaleSizes: [size], backend: context.backend ?? tf.getBackend() };
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
    ms = performance.now() - t0;
    try {
      pixels = tf.tidy(() => {
        let y: tf.Tensor4D = stylized;
        if (params.strength < 1) y = tf.add(content, tf.mul(tf.sub(stylized, content), params.strength));
        if (params.preserveColors) y = recolor(y, content);
        return Uint8Array.from(tf.clipByValue(tf.round(y), 0, 255).dataSync());
      });
    } finally {
      stylized.dispose();
    }
  } finally {
    content.dispose();
  }
  yield { type: 'step', step: 1, totalSteps: 1, scale: 1, contentLoss: 0, styleLoss: 0, tvLoss: 0, totalLoss: 0, ms };
  const result = await encodeRgb({ data: pixels, width: image.width, height: image.height }, 'png');
  yield { type: 'done', image: result.bytes, mime: result.mime, width: result.width, height: result.height, losses: { ...ZERO_LOSSES }, steps: 1, ms: performance.now() - began };
}
