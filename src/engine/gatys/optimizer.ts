// The optimiser a Gatys run uses to move the pixels, chosen by name. The image and the optimiser's state stay on the
// backend as tensors: on a GPU nothing per pixel crosses to the CPU between steps (only a few numbers), and on wasm
// the same vector arithmetic runs in XNNPACK's SIMD loops.
import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';
import type { OptimizerState, SavedTensor } from './checkpoint.js';
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
  /** The whole state, read back from the backend (asynchronously: WebGPU cannot read synchronously). */
  exportState(): Promise<OptimizerState>;
  /**
   * Replaces the state with a saved one, so that the next step is the one the saving optimiser would have taken. The
   * state's tensors must have the image's shape (decodeCheckpoint checks). Throws EngineInputError for another kind.
   */
  importState(state: OptimizerState): void;
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

/** A tensor's values, read back asynchronously; read-only (the cpu backend hands out its own storage). */
export async function saveTensor(tensor: tf.Tensor): Promise<SavedTensor> {
  return { shape: [...tensor.shape], data: await tensor.data<'float32'>() };
}

/** Saved values as a tensor on the backend, owned by the caller. */
export function loadTensor(saved: SavedTensor): tf.Tensor4D {
  return tf.tensor4d(saved.data, saved.shape as [number, number, number, number], 'float32');
}

/** Loads several saved tensors; frees the ones made before a failure. */
export function loadTensors(saved: SavedTensor[]): tf.Tensor4D[] {
  const loaded: tf.Tensor4D[] = [];
  try {
    for (const s of saved) loaded.push(loadTensor(s));
    return loaded;
  } catch (error) {
    tf.dispose(loaded);
    throw error;
  }
}
