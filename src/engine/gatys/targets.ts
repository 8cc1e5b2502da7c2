// What a Gatys step is measured against: the content features and the blended style Gram matrices of a scale, or of
// one tile of a tiled scale (its own content crop, the scale's style Grams from the whole style images).
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import {
  decodeRgb,
  fitLongestSide,
  greyFromLuminance,
  luminance,
  matchLuminance,
  type RgbImage,
} from '../image/index.js';
import { type GramCache, type GramSet } from './gram-cache.js';
import { gram, type LossTargets } from './losses.js';
import { readScalars } from './optimizer.js';
import type { ResolvedTransferParams } from './params.js';
import { tiledGrams } from './tiled-grams.js';
import { cropPlane, type ScalePlan, type TileRect } from './tiling.js';
import { toVggSpace, type Vgg19 } from './vgg19.js';

/** Style images are only run forward (a quarter of a step's memory per pixel). */
const STYLE_PIXEL_FACTOR = 4;

export interface ScaleSetup {
  shape: [number, number, number, number];
  targets: LossTargets;
  /** Content RGB at this scale, kept only to put its colours back (preserveColors). */
  contentRgb?: tf.Tensor4D;
  /** The content in VGG space, as the optimiser's start (whole scales only). */
  contentStart?: tf.Tensor4D;
}

export function rgbTensor(image: RgbImage): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(image.data), [1, image.height, image.width, 3]);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Runs fn in a tidy and keeps the tensors of the Map it returns (tidy does not look inside Maps). */
function keptMap<T extends tf.Tensor>(fn: () => Map<string, T>): Map<string, T> {
  let out = new Map<string, T>();
  tf.tidy(() => {
    out = fn();
    out.forEach((t) => tf.keep(t));
  });
  return out;
}

export function disposeMap(map: Map<string, tf.Tensor> | undefined): void {
  map?.forEach((t) => t.dispose());
}

/** Grams of one style image, from the cache or computed (and then cached): in tiles when one pass cannot hold it. */
function styleGrams(
  vgg: Vgg19,
  image: tf.Tensor4D,
  key: string,
  params: ResolvedTransferParams,
  cache: GramCache | undefined,
  maxPixels: number,
): { grams: GramSet; owned: boolean } {
  const cached = cache?.get(key);
  if (cached) return { grams: cached, owned: false };
  const [, height, width] = image.shape;
  const budget = maxPixels * STYLE_PIXEL_FACTOR;
  const grams =
    height * width <= budget
      ? keptMap(() => {
          const features = vgg.features(toVggSpace(image), params.styleLayers, params.pooling);
          return new Map(params.styleLayers.map((layer) => [layer, gram(features.get(layer)!)]));
        })
      : tiledGrams(vgg, image, params.styleLayers, params.pooling, Math.floor(Math.sqrt(budget)));
  // A cache that keeps nothing (capacity 0) leaves the tensors with this run, which frees them once used.
  return { grams, owned: !cache?.set(key, grams) };
}

/**
 * The style targets of one scale: each style image at size × styleScale, its Grams blended by weight. For a
 * luminance-only run the styles' luminance is first matched to the content's (`contentLum`, the whole image's).
 */
async function styleTargetsAt(
  vgg: Vgg19,
  params: ResolvedTransferParams,
  size: number,
  styleDims: { width: number; height: number }[],
  contentLum: tf.Tensor4D | undefined,
  cache: GramCache | undefined,
  maxPixels: number,
): Promise<GramSet> {
  const styleImages = await Promise.all(
    params.styles.map((style, i) => {
      const dims = fitLongestSide(styleDims[i]!.width, styleDims[i]!.height, Math.round(size * params.styleScale));
      return decodeRgb(style.image, `styles[${i}].image`, dims.width, dims.height);
    }),
  );
  const totalWeight = params.styles.reduce((sum, s) => sum + s.weight, 0);
  const styleTargets: GramSet = new Map();
  try {
    const contentStats = contentLum
      ? await readScalars(
          ...tf.tidy(() => Object.values(tf.moments(contentLum)).map((m) => tf.reshape<tf.Rank.R0>(m, []))),
        )
      : undefined;
    const statsKey = contentStats ? `:lum=${contentStats[0]!.toFixed(2)},${contentStats[1]!.toFixed(2)}` : '';
    for (const [i, style] of params.styles.entries()) {
      if (style.weight === 0) continue;
      const image = rgbTensor(styleImages[i]!);
      const input = contentLum ? tf.tidy(() => greyFromLuminance(matchLuminance(luminance(image), contentLum))) : image;
      const key =
        `${sha256(style.image)}:${input.shape[2]}x${input.shape[1]}:` +
        `${params.pooling}:${params.styleLayers.join(',')}${statsKey}`;
      try {
        const { grams, owned } = styleGrams(vgg, input, key, params, cache, maxPixels);
        for (const layer of params.styleLayers) {
          const previous = styleTargets.get(layer);
          const weighted = tf.tidy(() => tf.mul<tf.Tensor2D>(grams.get(layer)!, style.weight / totalWeight));
          styleTargets.set(layer, previous ? tf.tidy(() => tf.add<tf.Tensor2D>(previous, weighted)) : weighted);
          if (previous) {
            previous.dispose();
            weighted.dispose();
          }
        }
        if (owned) disposeMap(grams);
      } finally {
        if (input !== image) input.dispose();
        image.dispose();
      }
    }
    return styleTargets;
  } catch (error) {
    disposeMap(styleTargets);
    throw error;
  }
}

/** Content features of an RGB image (of its luminance, grey, for a luminance-only run), kept. */
function contentTargetsOf(vgg: Vgg19, params: ResolvedTransferParams, input: tf.Tensor4D): Map<string, tf.Tensor4D> {
  return keptMap(() => {
    const features = vgg.features(toVggSpace(input), params.contentLayers, params.pooling);
    return new Map(params.contentLayers.map((layer) => [layer, features.get(layer)!]));
  });
}

/** Decodes the images for one whole-image scale and computes the content features and blended style Grams. */
export async function setupScale(
  vgg: Vgg19,
  params: ResolvedTransferParams,
  scale: ScalePlan,
  styleDims: { width: number; height: number }[],
  cache: GramCache | undefined,
  maxPixels: number,
): Promise<ScaleSetup> {
  const { width, height } = scale;
  const contentImage = await decodeRgb(params.content, 'content', width, height);
  const contentRgb = rgbTensor(contentImage);
  const contentLum = params.preserveColors ? luminance(contentRgb) : undefined;
  const contentInput = contentLum ? greyFromLuminance(contentLum) : contentRgb;
  let content: Map<string, tf.Tensor4D> | undefined;
  try {
    content = contentTargetsOf(vgg, params, contentInput);
    const styleGrams = await styleTargetsAt(vgg, params, scale.size, styleDims, contentLum, cache, maxPixels);
    const contentStart = tf.tidy(() => toVggSpace(contentInput));
    return {
      shape: [1, height, width, 3],
      targets: { content, styleGrams },
      ...(params.preserveColors ? { contentRgb } : {}),
      contentStart,
    };
  } catch (error) {
    disposeMap(content);
    contentRgb.dispose();
    throw error;
  } finally {
    if (contentInput !== contentRgb) contentInput.dispose();
    contentLum?.dispose();
    if (!params.preserveColors) contentRgb.dispose();
  }
}

export function disposeScale(setup: ScaleSetup | undefined): void {
  if (!setup) return;
  setup.contentStart?.dispose();
  disposeMap(setup.targets.content);
  disposeMap(setup.targets.styleGrams);
  setup.contentRgb?.dispose();
}

/** What every tile of a tiled scale shares: the style targets (from the whole style images) and the content. */
export interface TiledScale {
  plan: ScalePlan & { tiles: TileRect[] };
  styleGrams: GramSet;
  /** The content at this scale, on the CPU; each tile's content targets come from its own crop. */
  content: RgbImage;
}

export async function setupTiledScale(
  vgg: Vgg19,
  params: ResolvedTransferParams,
  scale: ScalePlan & { tiles: TileRect[] },
  styleDims: { width: number; height: number }[],
  cache: GramCache | undefined,
  maxPixels: number,
): Promise<TiledScale> {
  const content = await decodeRgb(params.content, 'content', scale.width, scale.height);
  // Luminance is per pixel: the whole image's is cheap even where a step over it is not.
  const contentLum = params.preserveColors ? tf.tidy(() => luminance(rgbTensor(content))) : undefined;
  try {
    const styleGrams = await styleTargetsAt(vgg, params, scale.size, styleDims, contentLum, cache, maxPixels);
    return { plan: scale, styleGrams, content };
  } finally {
    contentLum?.dispose();
  }
}

/** One tile's targets: its crop's content features and the scale's style Grams (shared: disposeTile keeps them). */
export function setupTile(vgg: Vgg19, params: ResolvedTransferParams, scale: TiledScale, rect: TileRect): ScaleSetup {
  const crop = cropPlane({ ...scale.content, channels: 3 }, rect);
  const rgb = tf.tensor4d(Float32Array.from(crop.data), [1, rect.height, rect.width, 3]);
  const input = params.preserveColors ? tf.tidy(() => greyFromLuminance(luminance(rgb))) : rgb;
  try {
    const content = contentTargetsOf(vgg, params, input);
    return { shape: [1, rect.height, rect.width, 3], targets: { content, styleGrams: scale.styleGrams } };
  } finally {
    if (input !== rgb) input.dispose();
    rgb.dispose();
  }
}

export function disposeTile(setup: ScaleSetup | undefined): void {
  disposeMap(setup?.targets.content);
}
