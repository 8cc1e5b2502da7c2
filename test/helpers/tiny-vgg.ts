// A VGG19-shaped network with a few channels per layer and seeded random weights: every layer name and pooling of
// the real one, small enough for finite differences and fast tests.
import * as tf from '@tensorflow/tfjs';
import { CONV_LAYERS, Vgg19 } from '../../src/engine/gatys/index.js';

/** Named tensors as the weights manifest stores them: kernels [W,H,in,out]. */
export function tinyVggTensors(seed = 1, width = 3): tf.NamedTensorMap {
  const tensors: tf.NamedTensorMap = {};
  let inChannels = 3;
  CONV_LAYERS.forEach((name, i) => {
    const out = width + (i % 2);
    // He initialisation keeps the ReLUs alive through 16 layers.
    tensors[`${name}/kernel`] = tf.randomNormal(
      [3, 3, inChannels, out],
      0,
      Math.sqrt(2 / (9 * inChannels)),
      'float32',
      seed + i,
    );
    tensors[`${name}/bias`] = tf.randomNormal([out], 0.05, 0.02, 'float32', seed + 100 + i);
    inChannels = out;
  });
  return tensors;
}

export function tinyVgg(seed = 1, width = 3): Vgg19 {
  return Vgg19.fromNamedTensors(tinyVggTensors(seed, width), 'generated');
}
