// The real VGG19 from ../shared, loaded the way the engine loads it, against the float32 Keras layers (BGR, HWIO)
// computed here with plain tfjs ops: an independent path to the same features.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import {
  gram,
  loadVgg19,
  readWeightsFolder,
  RELU_LAYERS,
  REWRITTEN_KERNELS,
  TFJS_DEFAULT_KERNELS,
  toVggSpace,
  Vgg19,
} from '../src/engine/gatys/index.js';
import { VGG19_KERAS_F32, VGG19_UINT8, contentImage } from './helpers/shared.js';

const KERAS_LAYERS = [
  'block1_conv1',
  'block1_conv2',
  'block2_conv1',
  'block2_conv2',
  'block3_conv1',
  'block3_conv2',
  'block3_conv3',
  'block3_conv4',
];

/** Keras relu activations block1_conv1…block3_conv4 for a BGR−mean input, from the float32 shards. */
async function kerasFeatures(rgb: tf.Tensor4D): Promise<tf.Tensor4D[]> {
  const model = JSON.parse(await readFile(path.join(VGG19_KERAS_F32, 'model.json'), 'utf8')) as {
    weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  const weights: tf.NamedTensorMap = {};
  for (const group of model.weightsManifest.slice(0, KERAS_LAYERS.length)) {
    const buffer = await readFile(path.join(VGG19_KERAS_F32, group.paths[0]!));
    Object.assign(
      weights,
      tf.io.decodeWeights(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength), group.weights),
    );
  }
  const out: tf.Tensor4D[] = [];
  let x = tf.sub<tf.Tensor4D>(tf.reverse(rgb, 3), tf.tensor1d([103.939, 116.779, 123.68]));
  for (const [i, name] of KERAS_LAYERS.entries()) {
    x = tf.relu(
      tf.add(tf.conv2d(x, weights[`${name}/kernel`] as tf.Tensor4D, 1, 'same'), weights[`${name}/bias`]!),
    ) as tf.Tensor4D;
    out.push(x);
    if (i === 1 || i === 3) x = tf.maxPool(x, 2, 2, 'valid');
  }
  return out;
}

function relativeL2(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0]! / tf.norm(b).dataSync()[0]!);
}

describe('VGG19 from the shared uint8 weights', () => {
  let vgg: Vgg19;
  let image: tf.Tensor4D;

  beforeAll(async () => {
    await initBackend();
    vgg = await loadVgg19(VGG19_UINT8);
    const { data, info } = await sharp(contentImage('tubingen.jpg'))
      .resize(128, 128, { fit: 'cover' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    image = tf.tensor4d(Float32Array.from(data), [1, info.height, info.width, 3]);
  });

  it('matches the float32 Keras features through relu3_4 within quantisation error', async () => {
    const reference = await kerasFeatures(image);
    const ours = vgg.features(toVggSpace(image), RELU_LAYERS.slice(0, KERAS_LAYERS.length));
    const errors = RELU_LAYERS.slice(0, KERAS_LAYERS.length).map((layer, i) =>
      relativeL2(ours.get(layer)!, reference[i]!),
    );
    for (const error of errors) expect(error).toBeLessThan(0.05);
    // A wrong convention (BGR input or untransposed kernels) gives errors near 100%; make sure we are far from that.
    expect(Math.max(...errors)).toBeLessThan(0.04);
  });

  it('has the real network shape: relu5_1 of a 128² image is 8×8×512', () => {
    const features = vgg.features(toVggSpace(image), ['relu5_1', 'relu4_2']);
    expect(features.get('relu5_1')!.shape).toEqual([1, 8, 8, 512]);
    expect(features.get('relu4_2')!.shape).toEqual([1, 16, 16, 512]);
  });

  it('rejects a folder that is not VGG19 with a named error', async () => {
    await expect(loadVgg19(VGG19_KERAS_F32)).rejects.toMatchObject({ code: 'WEIGHTS_MISSING' });
  });
});

// The backward pass takes each gradient kernel in one of two forms, per backend (src/engine/gatys/kernels.ts): with the
// real weights, both sets must give tfjs autodiff's image gradient, at a size that is odd at every pooling.
describe.each(['wasm', 'cpu'] as const)('VGG19 image gradient with either kernel set on %s', (backendName) => {
  let previous: string;

  beforeAll(async () => {
    await initBackend();
    previous = tf.getBackend();
    expect(await tf.setBackend(backendName)).toBe(true);
  });
  afterAll(async () => {
    await tf.setBackend(previous);
  });

  it("tfjs's kernels and the rewrites both equal autodiff at 27×21 (relu5_1 at 1×1)", async () => {
    const taps = ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'];
    const image = tf.randomUniform<tf.Rank.R4>([1, 27, 21, 3], -100, 100, 'float32', 31);
    const other = tf.randomUniform<tf.Rank.R4>([1, 27, 21, 3], -100, 100, 'float32', 32);
    const gradients: tf.Tensor4D[] = [];
    let expected: tf.Tensor | undefined;
    for (const kernels of [TFJS_DEFAULT_KERNELS, REWRITTEN_KERNELS]) {
      const vgg = Vgg19.fromNamedTensors(await readWeightsFolder(VGG19_UINT8), VGG19_UINT8, { ...kernels });
      const targets = tf.tidy(() => {
        const features = vgg.features(other, taps);
        return taps.map((l) => gram(features.get(l)!, 'matmul-transposed'));
      });
      // Style terms through the Gram form of the set, so its gradient is part of the pass too.
      const objective = (input: tf.Tensor4D, features: Map<string, tf.Tensor4D>) =>
        tf.stack([
          ...taps.map((l, k) => tf.mean(tf.squaredDifference(gram(features.get(l)!, kernels.gram), targets[k]!))),
          tf.mul(tf.mean(input), 0),
        ]) as tf.Tensor1D;
      expected ??= tf.grad((x: tf.Tensor) => tf.sum(objective(x as tf.Tensor4D, vgg.features(x as tf.Tensor4D, taps))))(
        image,
      );
      const { terms, gradient } = vgg.valueAndGradient(image, taps, 'max', objective);
      expect(gradient.shape).toEqual([1, 27, 21, 3]);
      gradients.push(gradient);
      vgg.dispose();
      tf.dispose([terms, ...targets]);
    }
    for (const gradient of gradients) expect(relativeL2(gradient, expected!)).toBeLessThan(1e-4);
    expect(relativeL2(gradients[0]!, gradients[1]!)).toBeLessThan(1e-4);
    tf.dispose([image, other, expected!, ...gradients]);
  });
});
