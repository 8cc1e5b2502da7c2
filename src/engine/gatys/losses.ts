// Gatys losses, normalised so that the same weights work at every image size (as jcjohnson/neural-style):
// content = mean squared feature difference; style = mean squared difference of Gram matrices divided by the
// number of feature elements (C·H·W); total variation = mean squared difference of neighbouring pixels.
import * as tf from '@tensorflow/tfjs';
import { customUnaryOp } from './custom-grad.js';
import { currentKernelChoices, type GramProduct } from './kernels.js';

/**
 * Gram matrix of [1,H,W,C] features, divided by C·H·W, with the backend's product (src/engine/gatys/kernels.ts, chosen
 * per call for the backend current then). `transpose-matmul`: an explicit transpose and a plain matMul, with a
 * hand-written gradient of one product, F·(dG+dGᵀ), instead of the two tfjs would take (on wasm a matMul with a
 * transpose flag is 7-20x slower). `matmul-transposed`: tfjs's matMul(F, F, true, false) and its own gradient.
 */
export function gram(features: tf.Tensor4D, product: GramProduct = currentKernelChoices().gram): tf.Tensor2D {
  const [, h, w, c] = features.shape;
  const scale = 1 / (h * w * c);
  if (product === 'matmul-transposed') {
    return tf.tidy(() => {
      const flat = tf.reshape<tf.Rank.R2>(features, [h * w, c]);
      return tf.mul<tf.Tensor2D>(tf.matMul(flat, flat, true, false), scale);
    });
  }
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

/**
 * Mean of every element, the last axis first: wasm sums a whole tensor in one float32 pass, whose rounding grows
 * with its length (2.3e-4 relative over relu4_1's 512×512 Gram difference), where two shorter passes stay within
 * 2e-7 of float64, as WebGPU's tree reduction does (test/engine-webgpu.test.ts compares the two backends).
 */
function meanOfAll(x: tf.Tensor): tf.Scalar {
  return tf.mean<tf.Scalar>(tf.mean(x, -1));
}

export function contentLoss(features: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.tidy(() => meanOfAll(tf.squaredDifference(features, target)));
}

export function styleLoss(features: tf.Tensor4D, targetGram: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => meanOfAll(tf.squaredDifference(gram(features), targetGram)));
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
