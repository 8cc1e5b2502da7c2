// Loss terms against hand-computed values, and the image gradient (custom conv, pooling and Gram gradients)
// against finite differences and against tfjs's own autodiff of the same network; both forms of each gradient kernel
// (kernels.ts) against autodiff on the cpu and wasm backends.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import {
  avgPoolGradient,
  contentLoss,
  CONV_INPUT_GRADIENTS,
  CONV_LAYERS,
  convInputGradient,
  currentKernelChoices,
  flipKernel,
  gram,
  GRAM_PRODUCTS,
  KERNEL_CHOICES,
  MAX_POOL_GRADIENTS,
  maxPoolGradient,
  REWRITTEN_KERNELS,
  TFJS_DEFAULT_KERNELS,
  type LossTargets,
  type LossWeights,
  RELU_LAYERS,
  styleLoss,
  totalVariationLoss,
  Vgg19,
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

// Each gradient kernel has two forms (tfjs's own and a rewrite, src/engine/gatys/kernels.ts) and each backend gets the
// one measured faster there: both must give the same gradient, on the plain-JS backend and on wasm, at odd sizes.
describe.each(['cpu', 'wasm'] as const)('gradient kernels on %s', (backendName) => {
  let previous: string;
  const relativeError = (actual: tf.Tensor, expected: tf.Tensor) =>
    tf.tidy(() => tf.norm(tf.sub(actual, expected)).dataSync()[0]! / tf.norm(expected).dataSync()[0]!);

  beforeAll(async () => {
    previous = tf.getBackend();
    expect(await tf.setBackend(backendName)).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend(previous);
  });

  it('uses the table entry of the current backend', () => {
    expect(tf.getBackend()).toBe(backendName);
    expect(currentKernelChoices()).toEqual(KERNEL_CHOICES[backendName]);
    const before = tf.memory().numTensors;
    const vgg = tinyVgg(3);
    expect(vgg.kernels).toEqual(KERNEL_CHOICES[backendName]);
    // A flipped copy of each of the 16 kernels is kept only for the flipped-conv input gradient.
    const flipped = KERNEL_CHOICES[backendName].convInputGradient === 'flipped-conv';
    expect(tf.memory().numTensors - before).toBe(16 * (flipped ? 3 : 2));
    vgg.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [7, 5, 3],
    [13, 11, 17],
  ])('Gram FᵀF and its gradient agree both ways with autodiff of a sum of outer products, %i×%i×%i', (h, w, c) => {
    const features = tf.randomNormal<tf.Rank.R4>([1, h, w, c], 0, 1, 'float32', 11);
    const dG = tf.randomNormal<tf.Rank.R2>([c, c], 0, 1, 'float32', 12);
    // Σ over pixels of f·fᵀ, with no matMul: an independent route to FᵀF and, through autodiff, its gradient.
    const outerGram = (f: tf.Tensor) => {
      const flat = tf.reshape(f, [h * w, c]);
      return tf.div(tf.sum(tf.mul(tf.expandDims(flat, 2), tf.expandDims(flat, 1)), 0), h * w * c);
    };
    const expectedValue = outerGram(features);
    const expectedGradient = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(outerGram(f), dG)))(features);
    for (const product of GRAM_PRODUCTS) {
      const value = gram(features, product);
      expect(value.shape).toEqual([c, c]);
      expect(relativeError(value, expectedValue)).toBeLessThan(1e-5);
      const gradient = tf.grad((f: tf.Tensor) => tf.sum(tf.mul(gram(f as tf.Tensor4D, product), dG)))(features);
      expect(gradient.shape).toEqual([1, h, w, c]);
      expect(relativeError(gradient, expectedGradient)).toBeLessThan(1e-5);
    }
  });

  it.each([
    [8, 8, 4],
    [9, 7, 5],
  ])('max-pool gradient agrees both ways with autodiff of maxPool, %i×%i×%i', (h, w, c) => {
    // Positive and distinct, as the ReLU outputs VGG19 pools, where the two forms must agree (they may differ at ties,
    // and wasm's MaxPoolGrad drops windows whose maximum is ≤ 0).
    const input = tf.add<tf.Tensor4D>(tf.abs(tf.randomNormal([1, h, w, c], 0, 1, 'float32', 13)), 0.01);
    const output = tf.maxPool(input, 2, 2, 'valid');
    const dy = tf.randomNormal<tf.Rank.R4>(output.shape, 0, 1, 'float32', 14);
    const expected = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), dy)))(input);
    for (const variant of MAX_POOL_GRADIENTS) {
      const actual = maxPoolGradient(dy, input, output, variant);
      expect(actual.shape).toEqual([1, h, w, c]);
      // Exact: both only route dy values, they do no arithmetic on them.
      expect(Array.from(actual.dataSync(), (v) => v + 0)).toEqual(Array.from(expected.dataSync(), (v) => v + 0));
    }
  });

  it('max-pool and average-pool gradients of a pooling to nothing (1×3) are zeros, both ways', () => {
    // Not against autodiff, and the pooled output is made, not pooled: on wasm (tfjs 4.22) both maxPool and its
    // MaxPoolGrad write out of bounds on an empty output and break every later kernel. (The engine never pools to
    // nothing: its smallest side, 16 px, leaves relu5_1 1 px.)
    const input = tf.add<tf.Tensor4D>(tf.abs(tf.randomNormal([1, 1, 3, 2], 0, 1, 'float32', 18)), 0.01);
    const output = tf.zeros<tf.Rank.R4>([1, 0, 1, 2]);
    const dy = tf.zeros<tf.Rank.R4>(output.shape);
    for (const variant of MAX_POOL_GRADIENTS) {
      const actual = maxPoolGradient(dy, input, output, variant);
      expect(actual.shape).toEqual([1, 1, 3, 2]);
      expect(Array.from(actual.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    }
    expect(Array.from(avgPoolGradient(dy, input).dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    // The backend still works afterwards.
    expect(Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync())).toEqual([2, 3]);
  });

  it.each([
    [8, 8, 4, 6],
    [9, 7, 5, 3],
  ])('conv input gradient agrees both ways with autodiff of conv2d, %i×%i, %i→%i channels', (h, w, cin, cout) => {
    const x = tf.randomNormal<tf.Rank.R4>([1, h, w, cin], 0, 1, 'float32', 15);
    const kernel = tf.randomNormal<tf.Rank.R4>([3, 3, cin, cout], 0, 1, 'float32', 16);
    const dy = tf.randomNormal<tf.Rank.R4>([1, h, w, cout], 0, 1, 'float32', 17);
    const expected = tf.grad((input: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(input as tf.Tensor4D, kernel, 1, 'same'), dy)),
    )(x);
    const flipped = flipKernel(kernel);
    for (const variant of CONV_INPUT_GRADIENTS) {
      const actual = convInputGradient(dy, { kernel, flipped }, [1, h, w, cin], variant);
      expect(actual.shape).toEqual([1, h, w, cin]);
      expect(relativeError(actual, expected)).toBeLessThan(1e-5);
    }
  });

  it.each([
    ['tfjs default', TFJS_DEFAULT_KERNELS],
    ['rewritten', REWRITTEN_KERNELS],
  ] as const)('the backward pass with the %s kernels equals autodiff of the plain network at 37×45', (_, kernels) => {
    const named = tinyVggTensors(21);
    // Kernels and biases as tfjs ops take them, before the network takes ownership of its copies.
    const plain = CONV_LAYERS.map((name) => ({
      kernel: tf.transpose(named[`${name}/kernel`]!, [1, 0, 2, 3]) as tf.Tensor4D,
      bias: named[`${name}/bias`]!.clone(),
    }));
    const vgg = Vgg19.fromNamedTensors(named, 'generated', { ...kernels });
    expect(vgg.kernels).toEqual(kernels);
    const taps = ['relu1_2', 'relu3_1', 'relu5_1'];
    const plainFeatures = (x: tf.Tensor4D) => {
      const out = new Map<string, tf.Tensor4D>();
      let y = x;
      plain.forEach(({ kernel, bias }, i) => {
        y = tf.relu(tf.add(tf.conv2d(y, kernel, 1, 'same'), bias)) as tf.Tensor4D;
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
    const image = tf.randomUniform<tf.Rank.R4>([1, 37, 45, 3], -100, 100, 'float32', 22);
    const targets = tf.tidy(() => {
      const f = plainFeatures(tf.randomUniform<tf.Rank.R4>([1, 37, 45, 3], -100, 100, 'float32', 23));
      return taps.map((l) => plainGram(f.get(l)!));
    });
    // Style terms through the Gram form under test, so its gradient is part of the pass.
    const objective = (input: tf.Tensor4D, features: Map<string, tf.Tensor4D>) =>
      tf.stack([
        ...taps.map((l, k) => tf.mean(tf.squaredDifference(gram(features.get(l)!, kernels.gram), targets[k]!))),
        totalVariationLoss(input),
      ]) as tf.Tensor1D;
    const expected = tf.grad((x: tf.Tensor) =>
      tf.add(
        tf.addN(
          taps.map((l, k) =>
            tf.mean(tf.squaredDifference(plainGram(plainFeatures(x as tf.Tensor4D).get(l)!), targets[k]!)),
          ),
        ),
        totalVariationLoss(x as tf.Tensor4D),
      ),
    )(image);
    const { terms, gradient } = vgg.valueAndGradient(image, taps, 'max', objective);
    expect(terms.shape).toEqual([taps.length + 1]);
    expect(gradient.shape).toEqual([1, 37, 45, 3]);
    expect(relativeError(gradient, expected)).toBeLessThan(1e-4);
    vgg.dispose();
    tf.dispose([...plain.flatMap((p) => [p.kernel, p.bias]), image, ...targets, terms, gradient, expected]);
  });
});
