// Running a network layer by layer: each layer in its own tf.tidy, and each intermediate result freed as soon as the
// next one exists, so a pass holds about two activations at a time rather than all of them until the end.
import * as tf from '@tensorflow/tfjs';
import { TransferAbortedError } from '../errors.js';

export type Layer = (x: tf.Tensor4D) => tf.Tensor4D;

export function runLayers(input: tf.Tensor4D, layers: Layer[], interrupt?: () => boolean): tf.Tensor4D {
  let x = input;
  try {
    for (const layer of layers) {
      if (interrupt?.()) throw new TransferAbortedError();
      const y = tf.tidy(() => layer(x));
      if (x !== input) x.dispose();
      x = y;
    }
  } catch (error) {
    if (x !== input) x.dispose();
    throw error;
  }
  return x === input ? tf.clone(input) : x;
}

/** Tensors made at load time, freed together by dispose(). */
export class WeightSet {
  private readonly tensors: tf.Tensor[] = [];
  private disposed = false;

  add<T extends tf.Tensor>(tensor: T): T {
    this.tensors.push(tensor);
    return tensor;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(this.tensors);
    this.tensors.length = 0;
  }
}
