// Fast-transfer parameters: their ranges, their defaults and their validator, without tensors, so the main thread
// can check a request before it is queued.
import { EngineInputError } from '../errors.js';
import { largestSideWithin } from '../image/geometry.js';
import { largestBuffer, type BackendLimits } from '../runtime/backend-info.js';
import type { StyleModelSource } from './types.js';

export interface FastTransferParams {
  /** Encoded content image (JPEG, PNG, WebP, …). */
  content: Uint8Array;
  /** Longest side of the output in pixels. Default: the content's own, capped at what the backend can hold. */
  size?: number;
  /** How much of the stylized image to keep, blended over the content: 0 = the content, 1 (default) = stylized. */
  strength?: number;
  /** Keep the content's colours: the stylized luminance with the content's chroma. Default false. */
  preserveColors?: boolean;
  /**
   * Stylise in tiles whose own part of the output (halo excluded) is at most this many pixels a side, even where one
   * pass would fit (to compare tiling with a single pass). 0 or absent: automatic, tiles only past the backend's
   * single-pass limit.
   */
  tileSize?: number;
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
  tileSize?: number;
}

export const FAST_LIMITS = {
  size: { min: 8, max: 4096 },
  strength: { min: 0, max: 1 },
  /** A tile's own part of the output (0 = automatic); a halo of 64 px a side (TILE_HALO) comes on top. */
  tileSize: { min: 64, max: 4096 },
} as const;

export const FAST_DEFAULTS = { strength: 1, preserveColors: false } as const;

/**
 * Bytes per output pixel of the largest single tensor of a pass: 32 float32 channels at full size, on an image
 * padded by 4 px a side for the 9×9 convolutions (`npm run bench:kernels` prints it: 162 at 64², and 128·(w+8)(h+8)
 * in general, so at most 132 from 512 px up, where the limit matters).
 */
export const FAST_LARGEST_TENSOR_BYTES_PER_PIXEL = 132;

/**
 * Output pixels a forward pass can afford. Freeing each layer's input as soon as its output exists, a pass peaks at
 * about 0.65 KB of tensors per output pixel on wasm (measured: 1024² 0.67 GiB, 1536² 1.45 GiB of tensors and 2.9 GiB
 * RSS). The threaded wasm heap stops at 4 GiB: 2048² (about 2.7 GiB of tensors) did not finish there, so wasm is
 * capped at 1536². Native TensorFlow has the machine's memory.
 */
export function maxFastPixelsFor(backend: BackendLimits): number {
  if (backend.tfBackend === 'tensorflow') return 4096 * 4096;
  if (backend.tfBackend === 'webgpu' && backend.adapter) {
    return Math.floor(largestBuffer(backend.adapter) / FAST_LARGEST_TENSOR_BYTES_PER_PIXEL);
  }
  return 1536 * 1536;
}

/** The largest longest side a width × height content can be stylised at within maxPixels (and the size limit). */
export function largestFastSide(width: number, height: number, maxPixels: number): number {
  return Math.min(largestSideWithin(width, height, maxPixels), FAST_LIMITS.size.max);
}

/** The output size when none is given: the content's own, as large as the backend and the size limit allow. */
export function defaultFastSize(width: number, height: number, maxPixels: number): number {
  return Math.min(Math.max(width, height), largestFastSide(width, height, maxPixels));
}

/** The tunable part of a fast transfer (everything but the image), as presets and runs store it. */
export type FastOptions = Omit<ResolvedFastParams, 'content'>;

/** Validates the tunable options; throws EngineInputError naming the field and the valid values. */
export function resolveFastOptions(options: Partial<FastOptions>): FastOptions {
  if (options === null || typeof options !== 'object') throw new EngineInputError('params', 'must be an object');
  const { size, strength = FAST_DEFAULTS.strength, preserveColors = FAST_DEFAULTS.preserveColors, tileSize } = options;
  if (
    size !== undefined &&
    size !== null &&
    (!Number.isInteger(size) || size < FAST_LIMITS.size.min || size > FAST_LIMITS.size.max)
  ) {
    throw new EngineInputError(
      'size',
      `must be an integer, got ${size}`,
      `${FAST_LIMITS.size.min}..${FAST_LIMITS.size.max}, or omitted for the content's own size`,
    );
  }
  if (
    typeof strength !== 'number' ||
    !Number.isFinite(strength) ||
    strength < FAST_LIMITS.strength.min ||
    strength > FAST_LIMITS.strength.max
  ) {
    throw new EngineInputError(
      'strength',
      `must be a number from 0 to 1, got ${strength}`,
      `${FAST_LIMITS.strength.min}..${FAST_LIMITS.strength.max}`,
    );
  }
  if (typeof preserveColors !== 'boolean')
    throw new EngineInputError('preserveColors', `must be true or false, got ${String(preserveColors)}`, 'true, false');
  if (
    tileSize !== undefined &&
    tileSize !== null &&
    tileSize !== 0 &&
    (!Number.isInteger(tileSize) || tileSize < FAST_LIMITS.tileSize.min || tileSize > FAST_LIMITS.tileSize.max)
  ) {
    const { min, max } = FAST_LIMITS.tileSize;
    throw new EngineInputError(
      'tileSize',
      `must be 0 (automatic) or an integer from ${min} to ${max}, got ${tileSize}`,
      `${FAST_LIMITS.tileSize.min}..${FAST_LIMITS.tileSize.max}, or 0 or omitted for automatic tiling`,
    );
  }
  return { ...(size != null ? { size } : {}), strength, preserveColors, ...(tileSize ? { tileSize } : {}) };
}

/** Validates fast-transfer parameters; throws EngineInputError naming the field and the valid values. */
export function resolveFastParams(params: FastTransferParams): ResolvedFastParams {
  if (params === null || typeof params !== 'object') throw new EngineInputError('params', 'must be an object');
  const { content, ...options } = params;
  if (!(content instanceof Uint8Array) || content.byteLength === 0) {
    throw new EngineInputError(
      'content',
      'empty or missing image',
      'a non-empty JPEG, PNG, WebP, GIF, TIFF or AVIF file',
    );
  }
  return { content, ...resolveFastOptions(options) };
}
