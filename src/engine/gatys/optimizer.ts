// The optimiser a Gatys run uses to move the pixels, chosen by name. The image and the optimiser's state stay on the
// backend as tensors: on a GPU nothing per pixel crosses to the CPU between steps (only a few numbers), and on wasm
// the same vector arithmetic runs in XNNPACK's SIMD loops.
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import { Lbfgs } from './lbfgs.js';
import type { GatysOptions } from './params.js';

/** One update of the image from the gradient at it; implementations keep their own state between calls. */
export interface PixelOptimizer {
  /**
   * The image after one step from `x` along the gradient there. The caller keeps ownership of x and gradient and
   * owns the result.
   */
  step(x: tf.Tensor4D, gradient: tf.Tensor4D): Promise<tf.Tensor4D>;
  /** Frees the state (curvature pairs, moments). */
  dispose(): void;
}

export function createOptimizer(
  options: Pick<GatysOptions, 'optimizer' | 'learningRate' | 'lbfgsHistory'>,
): PixelOptimizer {
  return options.optimizer === 'adam'
    ? new Adam(options.learningRate)
    : new Lbfgs(options.lbfgsHistory, options.learningRate);
}

/** a·b over every element, as a scalar tensor (not read back). */
export function dot(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum<tf.Scalar>(tf.mul(a, b)));
}

/** The values of a few scalar tensors, read back in one wait; the tensors are disposed. */
export async function readScalars(...scalars: tf.Scalar[]): Promise<number[]> {
  try {
    const stacked = tf.stack(scalars);
    try {
      return Array.from(await stacked.data());
    } finally {
      stacked.dispose();
    }
  } finally {
    tf.dispose(scalars);
  }
}
