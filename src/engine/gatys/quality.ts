// The quality score of a stylised result, measured with VGG19 on the same yardstick as the Gatys losses (losses.ts):
// how far its Gram matrices are from the style's, relative to the content image's own distance to the style, and how
// far its relu4_2 features are from the content's, relative to the content's own magnitude. For ranking runs of the
// same content and styles; cheap (a few forward passes at QUALITY_DEFAULTS.size at most).
import * as tf from '@tensorflow/tfjs';
import { EngineInputError } from '../errors.js';
import { decodeRgb, probeImage, type RgbImage } from '../image/codec.js';
import { fitLongestSide } from '../image/geometry.js';
import { contentLoss, gram, styleLoss } from './losses.js';
import { LIMITS } from './params.js';
import { QUALITY_DEFAULTS, resolveQualityParams, type QualityParams, type QualityScore } from './quality-params.js';
import { toVggSpace, type Vgg19 } from './vgg19.js';

function rgbTensor(image: RgbImage): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]);
}

/**
 * n / d, where a zero denominator (the content already has the style's statistics, or has no relu4_2 response at
 * all) gives 0 for a zero numerator and otherwise the largest finite number: scores are stored and sent as JSON,
 * which has no Infinity.
 */
function ratio(n: number, d: number): number {
  if (d > 0) return n / d;
  return n > 0 ? Number.MAX_VALUE : 0;
}

/** Width and height at `side` (longest), refused when the short side falls below what relu5_1 needs. */
function dimsAt(
  probe: { width: number; height: number },
  side: number,
  field: string,
): { width: number; height: number } {
  const dims = fitLongestSide(probe.width, probe.height, side);
  if (Math.min(dims.width, dims.height) < LIMITS.minSide) {
    throw new EngineInputError(
      field,
      `is ${probe.width}×${probe.height}: at ${side} px its short side falls below ${LIMITS.minSide} px`,
      'a squarer image or a larger size',
    );
  }
  return dims;
}

/**
 * Scores a stylised result against its content and styles (see QualityScore). The result is measured at longest
 * side min(size, its own longest side), the content resized to exactly the result's measured size (so their features
 * line up), each style image at the same longest side. Images are checked before any tensor work
 * (EngineInputError); every tensor made is released before it returns, and the numbers are read back asynchronously.
 */
export async function scoreQuality(vgg: Vgg19, input: QualityParams): Promise<QualityScore> {
  const params = resolveQualityParams(input);
  const resultProbe = await probeImage(params.result, 'result');
  await probeImage(params.content, 'content');
  const active = params.styles
    .map((style, i) => ({ ...style, field: `styles[${i}].image` }))
    .filter((style) => style.weight > 0);
  const styleProbes = await Promise.all(active.map((style) => probeImage(style.image, style.field)));
  const side = Math.min(params.size, Math.max(resultProbe.width, resultProbe.height));
  const dims = dimsAt(resultProbe, side, 'result');
  const styleDims = styleProbes.map((probe, k) => dimsAt(probe, side, active[k]!.field));

  const [result, content, ...styles] = await Promise.all([
    decodeRgb(params.result, 'result', dims.width, dims.height),
    decodeRgb(params.content, 'content', dims.width, dims.height),
    ...active.map((style, k) => decodeRgb(style.image, style.field, styleDims[k]!.width, styleDims[k]!.height)),
  ]);

  const styleLayers: string[] = [...QUALITY_DEFAULTS.styleLayers];
  const contentLayer: string = QUALITY_DEFAULTS.contentLayer;
  const pooling = QUALITY_DEFAULTS.pooling;
  const totalWeight = active.reduce((sum, style) => sum + style.weight, 0);

  // [style distance of the result, style distance of the content, content distance of the result, content's mean
  // square]: four sums, read back together.
  const sums = tf.tidy(() => {
    const targets: tf.Tensor2D[] = [];
    for (const [k, image] of styles.entries()) {
      const share = active[k]!.weight / totalWeight;
      // Each style's features are freed as soon as its Grams are taken.
      const grams = tf.tidy(() => {
        const features = vgg.features(toVggSpace(rgbTensor(image)), styleLayers, pooling);
        return styleLayers.map((layer) => tf.mul<tf.Tensor2D>(gram(features.get(layer)!), share));
      });
      grams.forEach((g, l) => (targets[l] = targets[l] ? tf.add<tf.Tensor2D>(targets[l], g) : g));
    }
    const names = [...styleLayers, contentLayer];
    const resultFeatures = vgg.features(toVggSpace(rgbTensor(result)), names, pooling);
    const contentFeatures = vgg.features(toVggSpace(rgbTensor(content)), names, pooling);
    const styleDistance = (features: Map<string, tf.Tensor4D>) =>
      tf.addN(styleLayers.map((layer, l) => styleLoss(features.get(layer)!, targets[l]!)));
    const contentTarget = contentFeatures.get(contentLayer)!;
    return tf.stack([
      styleDistance(resultFeatures),
      styleDistance(contentFeatures),
      contentLoss(resultFeatures.get(contentLayer)!, contentTarget),
      // The mean square as contentLoss takes its mean (the last axis first), against zero.
      tf.mean(tf.mean(tf.square(contentTarget), -1)),
    ]) as tf.Tensor1D;
  });
  try {
    const [styleOfResult, styleOfContent, contentOfResult, contentSquare] = await sums.data();
    return {
      style: ratio(styleOfResult!, styleOfContent!),
      content: ratio(contentOfResult!, contentSquare!),
    };
  } finally {
    sums.dispose();
  }
}
