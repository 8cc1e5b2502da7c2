// Loss terms against hand-computed values, and the image gradient (custom conv, pooling and Gram gradients)
// against finite differences and against tfjs's own autodiff of the same network.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import {
  contentLoss,
  CONV_LAYERS,
  gram,
  type LossTargets,
  type LossWeights,
  RELU_LAYERS,
  styleLoss,
  totalVariationLoss,
  type Vgg19,
  weightedLosses,
} from '../src/engine/gatys/index.js';
import { tinyVgg, tinyVggTensors } from './helpers/tiny-vgg.js';

beforeAll(async () => {
  await initBackend();
});

describe('loss terms', () => {
  it('gram divides FᵀF by C·H·W', () => {
    const features = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    // FᵀF = [[84, 100], [100, 120]], C·H·W = 8
    expect(Array.from(gram(features).dataSync())).toEqual([10.5, 12.5, 12.5, 15]);
  });

  it('content loss is the mean squared difference', () => {
    const a = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const b = tf.tensor4d([1, 0, 3, 8], [1, 2, 2, 1]);
    expect(contentLoss(a, b).dataSync()[0]).toBeCloseTo((0 + 4 + 0 + 16) / 4, 6);
  });

  it('style loss is the mean squared Gram difference', () => {
    const features = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const target = tf.tensor2d([10.5, 10.5, 12.5, 13], [2, 2]);
    expect(styleLoss(features, target).dataSync()[0]).toBeCloseTo((0 + 4 + 0 + 4) / 4, 6);
  });

  it('total variation is mean squared horizontal plus vertical neighbour differences', () => {
    const image = tf.tensor4d([1, 2, 4, 8], [1, 2, 2, 1]);
    // dx: 1, 4 → 8.5; dy: 3, 6 → 22.5
    expect(totalVariationLoss(image).dataSync()[0]).toBeCloseTo(31, 5);
  });

  it('does not depend on image size for a uniform texture', () => {
    const tile = (n: number) => tf.tile<tf.Tensor4D>(tf.tensor4d([0, 10, 10, 0], [1, 2, 2, 1]), [1, n, n, 1]);
    const small = tile(4);
    const large = tile(16);
    expect(totalVariationLoss(small).dataSync()[0]).toBeCloseTo(totalVariationLoss(large).dataSync()[0]!, 3);
    expect(gram(small).dataSync()[0]).toBeCloseTo(gram(large).dataSync()[0]!, 3);
  });
});

describe('image gradient', () => {
  const styleLayers = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
  const contentLayers = ['relu4_2'];
  const weights: LossWeights = {
    content: 5,
    style: 100,
    tv: 0.5,
    contentLayers: new Map([['relu4_2', 1]]),
    styleLayers: new Map(styleLayers.map((l, i) => [l, 1 + i / 10])),
  };
  let vgg: Vgg19;
  let targets: LossTargets;
  let image: tf.Tensor4D;

  beforeAll(() => {
    vgg = tinyVgg(7);
    const target = tf.randomUniform<tf.Rank.R4>([1, 32, 32, 3], -100, 100, 'float32', 3);
    const features = vgg.features(target, [...styleLayers, ...contentLayers]);
    targets = {
      content: new Map(contentLayers.map((l) => [l, features.get(l)!])),
      styleGrams: new Map(styleLayers.map((l) => [l, gram(features.get(l)!)])),
    };
    // Near the target the loss is small next to its gradient, so float32 finite differences stay accurate.
    image = tf.add<tf.Tensor4D>(target, tf.randomNormal([1, 32, 32, 3], 0, 8, 'float32', 4));
  });

  const layers = [...styleLayers, ...contentLayers];
  const objective = (x: tf.Tensor4D, network: (x: tf.Tensor4D) => Map<string, tf.Tensor4D>) =>
    tf.sum<tf.Scalar>(weightedLosses(x, network(x), targets, weights));
  const ours = (x: tf.Tensor4D) => vgg.features(x, layers);
  /** The engine's hand-written backward pass. */
  const handGradient = (x: tf.Tensor4D, pooling: 'max' | 'avg' = 'max') =>
    vgg.valueAndGradient(x, layers, pooling, (input, features) => weightedLosses(input, features, targets, weights))
      .gradient;

  it('matches central finite differences', () => {
    const analytic = handGradient(image).dataSync();
    const base = image.dataSync();
    const largest = Math.max(...Array.from(analytic, Math.abs));
    const h = 0.05;
    let checked = 0;
    for (let k = 0; k < 24; k++) {
      const index = (k * 977) % base.length;
      const plus = Float32Array.from(base);
      const minus = Float32Array.from(base);
      plus[index]! += h;
      minus[index]! -= h;
      const fPlus = objective(tf.tensor4d(plus, image.shape), ours).dataSync()[0]!;
      const fMinus = objective(tf.tensor4d(minus, image.shape), ours).dataSync()[0]!;
      const numeric = (fPlus - fMinus) / (2 * h);
      // float32 rounding of the loss puts a floor under the numeric error, so allow a share of the largest gradient.
      expect(Math.abs(numeric - analytic[index]!)).toBeLessThan(0.02 * Math.abs(analytic[index]!) + 0.005 * largest);
      checked += 1;
    }
    expect(checked).toBe(24);
  });

  it('equals tfjs autodiff of the plain conv/relu/maxPool/matMul network', () => {
    const named = tinyVggTensors(7);
    const reference = (x: tf.Tensor4D) => {
      const out = new Map<string, tf.Tensor4D>();
      let y = x;
      CONV_LAYERS.forEach((name, i) => {
        const kernel = tf.transpose(named[`${name}/kernel`]!, [1, 0, 2, 3]) as tf.Tensor4D;
        y = tf.relu(tf.add(tf.conv2d(y, kernel, 1, 'same'), named[`${name}/bias`]!)) as tf.Tensor4D;
        out.set(RELU_LAYERS[i]!, y);
        if ([1, 3, 7, 11].includes(i)) y = tf.maxPool(y, 2, 2, 'valid');
      });
      return out;
    };
    const plainGram = (f: tf.Tensor4D) => {
      const [, h, w, c] = f.shape;
      const flat = tf.reshape(f, [h * w, c]);
      return tf.div(tf.matMul(flat, flat, true, false), h * w * c);
    };
    // Reference objective written out with tfjs built-ins only.
    const referenceObjective = (x: tf.Tensor4D) => {
      const features = reference(x);
      const content = tf.mul(
        tf.mean(tf.squaredDifference(features.get('relu4_2')!, targets.content.get('relu4_2')!)),
        weights.content,
      );
      const style = tf.mul(
        tf.addN(
          styleLayers.map((l) =>
            tf.mul(
              tf.mean(tf.squaredDifference(plainGram(features.get(l)!), targets.styleGrams.get(l)!)),
              weights.styleLayers.get(l)!,
            ),
          ),
        ),
        weights.style,
      );
      return tf.add<tf.Scalar>(tf.add(content, style), tf.mul(totalVariationLoss(x), weights.tv));
    };
    const expected = tf.grad((x: tf.Tensor) => referenceObjective(x as tf.Tensor4D))(image);
    const actual = handGradient(image);
    const relative = tf.norm(tf.sub(actual, expected)).dataSync()[0]! / tf.norm(expected).dataSync()[0]!;
    expect(relative).toBeLessThan(1e-4);
    const value = objective(image, ours).dataSync()[0]!;
    expect(Math.abs(value - referenceObjective(image).dataSync()[0]!) / value).toBeLessThan(1e-5);
  });

  it.each(['max', 'avg'] as const)('matches tfjs autodiff at odd sizes with %s pooling', (pooling) => {
    const odd = tf.randomUniform<tf.Rank.R4>([1, 37, 45, 3], -100, 100, 'float32', 9);
    const single = (input: tf.Tensor4D, features: Map<string, tf.Tensor4D>) =>
      tf.stack([
        tf.mean(tf.square(features.get('relu3_1')!)),
        tf.mean(tf.square(features.get('relu5_1')!)),
        tf.mul(tf.mean(input), 0),
      ]) as tf.Tensor1D;
    const expected = tf.grad((x: tf.Tensor) =>
      tf.sum(single(x as tf.Tensor4D, vgg.features(x as tf.Tensor4D, ['relu3_1', 'relu5_1'], pooling))),
    )(odd);
    const { terms, gradient } = vgg.valueAndGradient(odd, ['relu3_1', 'relu5_1'], pooling, single);
    expect(gradient.shape).toEqual([1, 37, 45, 3]);
    expect(terms.shape).toEqual([3]);
    const relative = tf.norm(tf.sub(gradient, expected)).dataSync()[0]! / tf.norm(expected).dataSync()[0]!;
    expect(relative).toBeLessThan(1e-4);
  });

  it('releases every intermediate tensor of the backward pass', () => {
    const before = tf.memory().numTensors;
    const { terms, gradient } = vgg.valueAndGradient(image, layers, 'max', (input, features) =>
      weightedLosses(input, features, targets, weights),
    );
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([terms, gradient]);
  });
});
