// tf.customGrad for the one-input ops of this engine, with the input and save function typed.
import * as tf from '@tensorflow/tfjs';

export type UnaryForward<I extends tf.Tensor, O extends tf.Tensor> = (
  input: I,
  save: tf.GradSaveFunc,
) => { value: O; gradFunc: (dy: O, saved: tf.Tensor[]) => tf.Tensor };

/** Wraps `forward` so that tf.grad uses its gradFunc; tensors closed over (weights) get no gradient. */
export function customUnaryOp<I extends tf.Tensor, O extends tf.Tensor>(forward: UnaryForward<I, O>): (input: I) => O {
  const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
  return (input) => op(input) as O;
}
