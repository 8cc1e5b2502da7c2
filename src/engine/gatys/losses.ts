// Gatys losses, normalised so that the same weights work at every image size (as jcjohnson/neural-style):
// content = mean squared feature difference; style = mean squared difference of Gram matrices divided by the
// number of feature elements (C·H·W); total variation = mean squared difference of neighbouring pixels.
import * as tf from '@tensorflow/tfjs';
import { customUnaryOp } from './custom-grad.js';

/**
 * Gram matrix of [1,H,W,C] features, divided by C·H·W. Written as transpose + plain matMul with a hand-written
 * gradient: on wasm a matMul with a transpose flag is 10-20x slower than an explicit transpose and a plain one,
 * and the gradient needs one product (F·(dG+dGᵀ)) instead of the two tfjs would take.
 */
export function gram(features: tf.Tensor4D): tf.Tensor2D {
  const [, h, w, c] = features.shape;
  const scale = 1 / (h * w * c);
  const op = customUnaryOp<tf.Tensor4D, tf.Tensor2D>((input, save) => {
    const flat = tf.reshape<tf.Rank.R2>(input, [h * w, c]);
    save([flat]);
    return {
      value: tf.mul<tf.Tensor2D>(tf.matMul(tf.transpose(flat), flat), scale),
      gradFunc: (dy, saved) => {
        const [savedFlat] = saved as [tf.Tensor2D];
        const symmetric = tf.add<tf.Tensor2D>(dy, tf.transpose(dy));
        return tf.reshape(tf.mul(tf.matMul(savedFlat, symmetric), scale), [1, h, w, c]);
      },
    };
  });
  return op(features);
}

export function contentLoss(features: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean<tf.Scalar>(tf.squaredDifference(features, target)));
}

export function styleLoss(features: tf.Tensor4D, targetGram: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean<tf.Scalar>(tf.squaredDifference(gram(features), targetGram)));
}

/** Mean of squared horizontal plus mean of squared vertical neighbour differences, in pixel units². */
export function totalVariationLoss(image: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const dx = tf.sub(
      tf.slice(image, [0, 0, 1, 0], [-1, -1, w - 1, -1]),
      tf.slice(image, [0, 0, 0, 0], [-1, -1, w - 1, -1]),
    );
    const dy = tf.sub(
      tf.slice(image, [0, 1, 0, 0], [-1, h - 1, -1, -1]),
      tf.slice(image, [0, 0, 0, 0], [-1, h - 1, -1, -1]),
    );
    return tf.add<tf.Scalar>(tf.mean(tf.square(dx)), tf.mean(tf.square(dy)));
  });
}

export interface LossTargets {
  content: Map<string, tf.Tensor4D>;
  styleGrams: Map<string, tf.Tensor2D>;
}

export interface LossWeights {
  content: number;
  style: number;
  tv: number;
  contentLayers: Map<string, number>;
  styleLayers: Map<string, number>;
}

/**
 * The weighted content, style and TV losses of an image given its features, as a [3] tensor; their sum is the
 * objective. Kept apart so that every step can report each term.
 */
export function weightedLosses(
  image: tf.Tensor4D,
  features: Map<string, tf.Tensor4D>,
  targets: LossTargets,
  weights: LossWeights,
): tf.Tensor1D {
  return tf.tidy(() => {
    const contentTerms = [...weights.contentLayers].map(([layer, w]) =>
      tf.mul(contentLoss(features.get(layer)!, targets.content.get(layer)!), w),
    );
    const styleTerms = [...weights.styleLayers].map(([layer, w]) =>
      tf.mul(styleLoss(features.get(layer)!, targets.styleGrams.get(layer)!), w),
    );
    const content = tf.mul(tf.addN(contentTerms), weights.content);
    const style = tf.mul(tf.addN(styleTerms), weights.style);
    // Computed even at weight 0 so that the image is always an input of the objective.
    const tv = tf.mul(totalVariationLoss(image), weights.tv);
    return tf.stack([content, style, tv]) as tf.Tensor1D;
  });
}
