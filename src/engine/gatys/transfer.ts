// A Gatys et al. transfer: optimise the pixels so their VGG19 features match the content image's and their Gram
// matrices match the style images'. Runs on whatever tfjs backend is active, in the calling thread; the engine
// worker (worker.ts) is what keeps it off the server's event loop.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { EngineInputError, TransferAbortedError, TransferDivergedError } from '../errors.js';
import type { Losses, TransferEvent } from '../events.js';
import { type GramCache, type GramSet } from './gram-cache.js';
import {
  decodeRgb,
  encodeRgb,
  fitLongestSide,
  greyFromLuminance,
  largestSideWithin,
  luminance,
  matchLuminance,
  probeImage,
  recolor,
  type RgbImage,
} from '../image/index.js';
import type { StopRequest } from '../job.js';
import {
  checkCheckpointBelongs,
  checkCheckpointEvery,
  checkpointIdentity,
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointIdentity,
  type CheckpointState,
} from './checkpoint.js';
import { gram, weightedLosses, type LossTargets, type LossWeights } from './losses.js';
import { createOptimizer, loadTensor, readScalars, saveTensor, type PixelOptimizer } from './optimizer.js';
import {
  LIMITS,
  resolveTransferParams,
  scaleSizes,
  type ResolvedTransferParams,
  type TransferParams,
} from './params.js';
import { gaussianNoise } from './rng.js';
import { fromVggSpace, toVggSpace, type Vgg19 } from './vgg19.js';

export interface GatysContext {
  vgg: Vgg19;
  /** Style Gram targets kept across runs; omit to compute them every run. */
  gramCache?: GramCache;
  /**
   * Polled before every step. 'abort' ends the run with TransferAbortedError after freeing its tensors;
   * 'checkpoint' first yields a checkpoint event, from whose state `resume` continues.
   */
  stop?: () => StopRequest | undefined;
  /** A checkpoint event every N steps, the run going on (0 or absent: only on a 'checkpoint' stop). */
  checkpointEvery?: number;
  /** Reported in the started event. */
  backend?: string;
  /** Largest output (in pixels) the backend has memory for; see maxPixelsFor(). Default: no limit. */
  maxPixels?: number;
}

/** Style images are only run forward (a quarter of a step's memory per pixel). */
const STYLE_PIXEL_FACTOR = 4;

/** Standard deviation of the `noise` start, in pixel units around the ImageNet mean colour. */
const NOISE_STD = 16;
const PREVIEW_FORMAT = 'jpeg';

interface ScaleSetup {
  shape: [number, number, number, number];
  targets: LossTargets;
  /** Content RGB at this scale, kept only to put its colours back (preserveColors). */
  contentRgb?: tf.Tensor4D;
  /** The content in VGG space, as the optimiser's start. */
  contentStart: tf.Tensor4D;
}

function rgbTensor(image: RgbImage): tf.Tensor4D {
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

function disposeMap(map: Map<string, tf.Tensor> | undefined): void {
  map?.forEach((t) => t.dispose());
}

/** Checks images before any tensor work: readable, and large enough for relu5_x after four poolings. */
async function checkImages(params: ResolvedTransferParams, maxPixels: number) {
  const content = await probeImage(params.content, 'content');
  const output = fitLongestSide(content.width, content.height, params.size);
  if (output.width * output.height > maxPixels) {
    const largest = largestSideWithin(content.width, content.height, maxPixels);
    throw new EngineInputError(
      'size',
      `${output.width}×${output.height} needs more memory than this backend has`,
      `size ≤ ${largest} for this image on this backend`,
    );
  }
  const coarsest = scaleSizes(params.size, params.scales)[0]!;
  const tooThin = (w: number, h: number, longest: number) => {
    const fitted = fitLongestSide(w, h, longest);
    return Math.min(fitted.width, fitted.height) < LIMITS.minSide;
  };
  if (tooThin(content.width, content.height, coarsest)) {
    throw new EngineInputError(
      'content',
      `is ${content.width}×${content.height}: at ${coarsest} px its short side falls below ${LIMITS.minSide} px`,
      'an aspect ratio closer to square or a larger size',
    );
  }
  const styles = [];
  for (const [i, style] of params.styles.entries()) {
    const probe = await probeImage(style.image, `styles[${i}].image`);
    if (tooThin(probe.width, probe.height, Math.round(coarsest * params.styleScale))) {
      throw new EngineInputError(
        `styles[${i}].image`,
        `is ${probe.width}×${probe.height}: too thin at styleScale ${params.styleScale}`,
        'a larger styleScale or a squarer image',
      );
    }
    const styleOutput = fitLongestSide(probe.width, probe.height, Math.round(params.size * params.styleScale));
    if (styleOutput.width * styleOutput.height > maxPixels * STYLE_PIXEL_FACTOR) {
      throw new EngineInputError(
        'styleScale',
        `style image ${i} at ${styleOutput.width}×${styleOutput.height} needs more memory than this backend has`,
        `a smaller styleScale or size`,
      );
    }
    styles.push(probe);
  }
  if (params.initImage) await probeImage(params.initImage, 'initImage');
  return { content, styles };
}

function lossWeights(params: ResolvedTransferParams): LossWeights {
  return {
    content: params.contentWeight,
    style: params.styleWeight,
    tv: params.tvWeight,
    contentLayers: new Map(params.contentLayers.map((l, i) => [l, params.contentLayerWeights[i]!])),
    styleLayers: new Map(params.styleLayers.map((l, i) => [l, params.styleLayerWeights[i]!])),
  };
}

/** Grams of one style image, from the cache or computed (and then cached). */
function styleGrams(
  vgg: Vgg19,
  image: tf.Tensor4D,
  key: string,
  params: ResolvedTransferParams,
  cache: GramCache | undefined,
): { grams: GramSet; owned: boolean } {
  const cached = cache?.get(key);
  if (cached) return { grams: cached, owned: false };
  const grams = keptMap(() => {
    const features = vgg.features(toVggSpace(image), params.styleLayers, params.pooling);
    return new Map(params.styleLayers.map((layer) => [layer, gram(features.get(layer)!)]));
  });
  // A cache that keeps nothing (capacity 0) leaves the tensors with this run, which frees them once used.
  return { grams, owned: !cache?.set(key, grams) };
}

/** Decodes the images for one scale and computes the content features and blended style Grams. */
async function setupScale(
  vgg: Vgg19,
  params: ResolvedTransferParams,
  size: number,
  contentDims: { width: number; height: number },
  styleDims: { width: number; height: number }[],
  cache: GramCache | undefined,
): Promise<ScaleSetup> {
  const { width, height } = fitLongestSide(contentDims.width, contentDims.height, size);
  const contentImage = await decodeRgb(params.content, 'content', width, height);
  const styleImages = await Promise.all(
    params.styles.map((style, i) => {
      const dims = fitLongestSide(styleDims[i]!.width, styleDims[i]!.height, Math.round(size * params.styleScale));
      return decodeRgb(style.image, `styles[${i}].image`, dims.width, dims.height);
    }),
  );
  const contentRgb = rgbTensor(contentImage);
  const contentLum = params.preserveColors ? luminance(contentRgb) : undefined;
  const contentInput = contentLum ? greyFromLuminance(contentLum) : contentRgb;
  const totalWeight = params.styles.reduce((sum, s) => sum + s.weight, 0);
  const styleTargets: GramSet = new Map();
  let content: Map<string, tf.Tensor4D> | undefined;
  try {
    content = keptMap(() => {
      const features = vgg.features(toVggSpace(contentInput), params.contentLayers, params.pooling);
      return new Map(params.contentLayers.map((layer) => [layer, features.get(layer)!]));
    });
    const contentTargets = content;
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
      const { grams, owned } = styleGrams(vgg, input, key, params, cache);
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
      if (input !== image) input.dispose();
      image.dispose();
    }
    const contentStart = tf.tidy(() => toVggSpace(contentInput));
    return {
      shape: [1, height, width, 3],
      targets: { content: contentTargets, styleGrams: styleTargets },
      ...(params.preserveColors ? { contentRgb } : {}),
      contentStart,
    };
  } catch (error) {
    disposeMap(content);
    disposeMap(styleTargets);
    contentRgb.dispose();
    throw error;
  } finally {
    if (contentInput !== contentRgb) contentInput.dispose();
    contentLum?.dispose();
    if (!params.preserveColors) contentRgb.dispose();
  }
}

function disposeScale(setup: ScaleSetup | undefined): void {
  if (!setup) return;
  setup.contentStart.dispose();
  disposeMap(setup.targets.content);
  disposeMap(setup.targets.styleGrams);
  setup.contentRgb?.dispose();
}

/**
 * The objective and its gradient at x: the losses read back (asynchronously: a synchronous read stalls a GPU backend,
 * and WebGPU in Node cannot do one at all), the gradient left on the backend for the optimiser. The caller owns it.
 */
async function evaluate(
  vgg: Vgg19,
  x: tf.Tensor4D,
  setup: ScaleSetup,
  weights: LossWeights,
  params: ResolvedTransferParams,
): Promise<{ losses: Losses; gradient: tf.Tensor4D }> {
  const result = vgg.valueAndGradient(
    x,
    [...params.contentLayers, ...params.styleLayers],
    params.pooling,
    (input, features) => weightedLosses(input, features, setup.targets, weights),
  );
  try {
    const [content, style, tv] = await result.terms.data();
    return {
      losses: { content: content!, style: style!, tv: tv!, total: content! + style! + tv! },
      gradient: result.gradient,
    };
  } catch (error) {
    // A failed read (out of memory, a lost device): the run ends, its tensors must not outlive it.
    result.gradient.dispose();
    throw error;
  } finally {
    result.terms.dispose();
  }
}

/** Pixels in VGG space → clamped RGB bytes, with the content's colours put back when asked. */
async function toRgb(x: tf.Tensor4D, setup: ScaleSetup): Promise<RgbImage> {
  const [, height, width] = setup.shape;
  const rgb = tf.tidy(() => {
    let image = fromVggSpace(x);
    if (setup.contentRgb) image = recolor(image, setup.contentRgb);
    return tf.clipByValue(tf.round(image), 0, 255);
  });
  try {
    return { data: Uint8Array.from(await rgb.data()), width, height };
  } finally {
    rgb.dispose();
  }
}

/** Encoded image bytes as optimiser pixels at this scale (grey luminance for a luminance-only run). */
async function pixelsOf(
  bytes: Uint8Array,
  field: string,
  params: ResolvedTransferParams,
  setup: ScaleSetup,
): Promise<tf.Tensor4D> {
  const [, height, width] = setup.shape;
  const rgb = await decodeRgb(bytes, field, width, height);
  return tf.tidy(() => {
    const image = rgbTensor(rgb);
    return toVggSpace(params.preserveColors ? greyFromLuminance(luminance(image)) : image);
  });
}

/** The start of the first scale: the content, seeded noise, or a given image. */
async function initialPixels(params: ResolvedTransferParams, setup: ScaleSetup): Promise<tf.Tensor4D> {
  const [, height, width] = setup.shape;
  if (params.init === 'noise')
    return tf.tensor4d(gaussianNoise(height * width * 3, params.seed, NOISE_STD), setup.shape);
  if (params.init === 'image') return pixelsOf(params.initImage!, 'initImage', params, setup);
  return setup.contentStart.clone();
}

/** The checkpoint a run resumes from, checked against its params before any tensor work; none for a legacy image. */
function resumedCheckpoint(
  params: ResolvedTransferParams,
  identity: CheckpointIdentity,
  content: { width: number; height: number },
): CheckpointState | undefined {
  const resume = params.resume;
  if (!resume || !('state' in resume)) return undefined;
  const state = decodeCheckpoint(resume.state);
  if (state.step !== resume.step) {
    throw new EngineInputError(
      'resume.step',
      `is ${resume.step}, but the checkpoint was taken after step ${state.step}`,
    );
  }
  const sizes = scaleSizes(params.size, params.scales);
  checkCheckpointBelongs(state, identity, (scale) => {
    const { width, height } = fitLongestSide(content.width, content.height, sizes[scale]!);
    return [1, height, width, 3];
  });
  return state;
}

/** The previous scale's result, bilinearly upsampled to this scale. */
function upsample(x: tf.Tensor4D, to: ScaleSetup): tf.Tensor4D {
  return tf.tidy(() => tf.image.resizeBilinear(x, [to.shape[1], to.shape[2]]));
}

/**
 * Runs one transfer and yields its events. Parameters and images are checked before any tensor work
 * (EngineInputError); every tensor the run made is released when it ends, however it ends.
 */
export async function* gatysTransfer(
  input: TransferParams,
  context: GatysContext,
): AsyncGenerator<TransferEvent, void, undefined> {
  const params = resolveTransferParams(input);
  const checkpointEvery = checkCheckpointEvery(context.checkpointEvery);
  const probes = await checkImages(params, context.maxPixels ?? Number.POSITIVE_INFINITY);
  const identity = checkpointIdentity(params);
  /** Dropped once restored: its arrays are ~40× the image with a full L-BFGS memory. */
  let restore = resumedCheckpoint(params, identity, probes.content);
  const began = performance.now();
  const sizes = scaleSizes(params.size, params.scales);
  const totalSteps = params.steps * sizes.length;
  const output = fitLongestSide(probes.content.width, probes.content.height, params.size);
  yield {
    type: 'started',
    width: output.width,
    height: output.height,
    totalSteps,
    scaleSizes: sizes,
    backend: context.backend ?? tf.getBackend(),
  };
  const weights = lossWeights(params);
  let setup: ScaleSetup | undefined;
  /** The image being optimised, in VGG space: a tensor on the backend, replaced by each step. */
  let x: tf.Tensor4D | undefined;
  let optimizer: PixelOptimizer | undefined;
  let last: Losses | undefined;
  // A resumed run picks up at the scale and step its checkpoint was taken at, from the checkpoint's image (and, from
  // a full checkpoint, its optimiser's state).
  let step = params.resume?.step ?? 0;
  const firstScale = Math.floor(step / params.steps);
  let lastCheckpoint = step;
  /** The checkpoint of the run as it stands before its next step, at this scale. */
  const checkpoint = async (scale: number): Promise<Uint8Array> => {
    const [image, state] = await Promise.all([saveTensor(x!), optimizer!.exportState()]);
    return encodeCheckpoint({ step, scale, image, optimizer: state, identity });
  };
  try {
    for (const [scaleIndex, size] of sizes.entries()) {
      if (scaleIndex < firstScale) continue;
      const previous = setup;
      setup = await setupScale(context.vgg, params, size, probes.content, probes.styles, context.gramCache);
      if (previous && x) {
        const upsampled = upsample(x, setup);
        x.dispose();
        x = upsampled;
      } else if (restore) x = loadTensor(restore.image);
      else if (params.resume && 'image' in params.resume)
        x = await pixelsOf(params.resume.image, 'resume.image', params, setup);
      else x = await initialPixels(params, setup);
      disposeScale(previous);
      optimizer?.dispose();
      optimizer = createOptimizer(params);
      if (restore) {
        optimizer.importState(restore.optimizer);
        restore = undefined;
      }
      for (let i = scaleIndex === firstScale ? step - firstScale * params.steps : 0; i < params.steps; i++) {
        // Checkpoints are taken here, before a step, where the image and the optimiser are those of the scale the
        // next step runs at (after a scale's last step, the next scale's upsampled image and fresh optimiser).
        const stop = context.stop?.();
        const due = checkpointEvery > 0 && step > lastCheckpoint && step % checkpointEvery === 0;
        if (stop === 'checkpoint' || (due && !stop)) {
          yield { type: 'checkpoint', step, state: await checkpoint(scaleIndex) };
          lastCheckpoint = step;
        }
        if (stop) throw new TransferAbortedError(stop === 'checkpoint' ? `checkpointed after step ${step}` : undefined);
        const t0 = performance.now();
        const { losses, gradient } = await evaluate(context.vgg, x, setup, weights, params);
        let preview: RgbImage | undefined;
        try {
          step += 1;
          if (!Number.isFinite(losses.total)) throw new TransferDivergedError(step);
          last = losses;
          if (params.previewEvery > 0 && step % params.previewEvery === 0 && step < totalSteps) {
            preview = await toRgb(x, setup);
          }
          // The last step of the last scale is not followed by an update: the result is the image whose losses we
          // report.
          if (i < params.steps - 1 || scaleIndex < sizes.length - 1) {
            const next = await optimizer.step(x, gradient);
            x.dispose();
            x = next;
          }
        } finally {
          gradient.dispose();
        }
        yield {
          type: 'step',
          step,
          totalSteps,
          scale: scaleIndex + 1,
          contentLoss: losses.content,
          styleLoss: losses.style,
          tvLoss: losses.tv,
          totalLoss: losses.total,
          ms: performance.now() - t0,
        };
        if (preview) {
          const image = await encodeRgb(preview, PREVIEW_FORMAT, { maxSide: params.previewSize, quality: 80 });
          yield { type: 'preview', step, image };
        }
      }
    }
    const image = await encodeRgb(await toRgb(x!, setup!), 'png');
    yield { type: 'done', image, losses: last!, steps: step, ms: performance.now() - began };
  } finally {
    optimizer?.dispose();
    x?.dispose();
    disposeScale(setup);
  }
}
