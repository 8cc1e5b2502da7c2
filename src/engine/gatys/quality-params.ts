// The quality score's parameters, defaults and validator: plain data, no tensors, so that the engine's light entry
// (src/engine/index.ts) can export them. The scoring itself is in quality.ts.
import { EngineInputError } from '../errors.js';
import { GATYS_DEFAULTS, LIMITS, type StyleInput } from './params.js';

/**
 * How far a stylised result is from its targets, for ranking runs of the same content and styles (lower is better on
 * both axes, and they pull against each other).
 */
export interface QualityScore {
  /**
   * Σ over the style layers of the mean squared difference between the result's Gram matrices and the (blended)
   * style Grams, divided by the same sum for the content image: 0 = the style's statistics exactly, 1 = no more
   * stylised than the photo (above 1: further from the style than the photo).
   */
  style: number;
  /**
   * Mean squared difference of the relu4_2 features of the result and the content, divided by the mean square of
   * the content's: 0 = the content exactly.
   */
  content: number;
}

export interface QualityParams {
  /** The stylised result, encoded (PNG, JPEG, …). */
  result: Uint8Array;
  /** The content image the run started from, encoded. */
  content: Uint8Array;
  /** The run's style images and blend weights (weights normalised to sum to 1, default 1 each). */
  styles: StyleInput[];
  /**
   * Longest side, in pixels, the result is measured at: a larger result is measured on a downscaled copy, a smaller
   * one at its own size (never upscaled). Default QUALITY_DEFAULTS.size.
   */
  size?: number;
}

export interface ResolvedQualityParams {
  result: Uint8Array;
  content: Uint8Array;
  styles: { image: Uint8Array; weight: number }[];
  size: number;
}

/**
 * The yardstick is fixed (the engine's default layers, max pooling, styles at the result's scale) whatever a run's
 * own options were, so that the scores of runs with different options can be compared.
 */
export const QUALITY_DEFAULTS = {
  size: 256,
  styleLayers: [...GATYS_DEFAULTS.styleLayers],
  contentLayer: 'relu4_2',
  pooling: 'max',
} as const;

/** Range of `size`: relu5_1 sits below four 2× poolings, so the short side must keep LIMITS.minSide pixels. */
export const QUALITY_LIMITS = {
  size: { min: LIMITS.minSide, max: LIMITS.size.max },
} as const;

function checkBytes(field: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
    throw new EngineInputError(field, 'empty or missing image', 'a non-empty JPEG, PNG, WebP, GIF, TIFF or AVIF file');
  }
}

/** Validates a scoring request before any decoding or tensor work; throws EngineInputError naming the field. */
export function resolveQualityParams(params: QualityParams): ResolvedQualityParams {
  if (params === null || typeof params !== 'object') throw new EngineInputError('params', 'must be an object');
  const { result, content, styles } = params;
  checkBytes('result', result);
  checkBytes('content', content);
  if (!Array.isArray(styles) || styles.length < LIMITS.styles.min || styles.length > LIMITS.styles.max) {
    throw new EngineInputError(
      'styles',
      `needs ${LIMITS.styles.min} to ${LIMITS.styles.max} style images, ` +
        `got ${Array.isArray(styles) ? styles.length : 0}`,
    );
  }
  const resolvedStyles = styles.map((style, i) => {
    checkBytes(`styles[${i}].image`, style?.image);
    const weight = style.weight ?? 1;
    const { min, max } = LIMITS.weight;
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < min || weight > max) {
      throw new EngineInputError(`styles[${i}].weight`, `must be a finite number, got ${weight}`, `${min}..${max}`);
    }
    return { image: style.image, weight };
  });
  if (resolvedStyles.every((s) => s.weight === 0))
    throw new EngineInputError('styles', 'all style weights are 0', 'at least one weight > 0');
  const size = params.size ?? QUALITY_DEFAULTS.size;
  if (!Number.isInteger(size) || size < QUALITY_LIMITS.size.min || size > QUALITY_LIMITS.size.max) {
    throw new EngineInputError(
      'size',
      `must be an integer, got ${size}`,
      `${QUALITY_LIMITS.size.min}..${QUALITY_LIMITS.size.max}`,
    );
  }
  return { result, content, styles: resolvedStyles, size };
}
