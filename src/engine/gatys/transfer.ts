// A Gatys et al. transfer: optimise the pixels so their VGG19 features match the content image's and their Gram
// matrices match the style images'. Runs on whatever tfjs backend is active, in the calling thread; the engine
// worker (worker.ts) is what keeps it off the server's event loop.
import * as tf from '@tensorflow/tfjs';
import { EngineInputError, TransferAbortedError, TransferDivergedError } from '../errors.js';
import type { Losses, TransferEvent } from '../events.js';
import { type GramCache } from './gram-cache.js';
import {
  decodeRgb,
  encodeRgb,
  fitLongestSide,
  greyFromLuminance,
  largestSideWithin,
  luminance,
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
import { weightedLosses, type LossWeights } from './losses.js';
import { createOptimizer, loadTensor, saveTensor, type PixelOptimizer } from './optimizer.js';
import {
  LIMITS,
  resolveTransferParams,
  scaleSizes,
  type ResolvedTransferParams,
  type TransferParams,
} from './params.js';
import { gaussianNoise } from './rng.js';
import { planeOf, planeTensor, planeToRgb, resizedPlane, savedPlane, toPlane } from './plane.js';
import {
  disposeMap,
  disposeScale,
  disposeTile,
  rgbTensor,
  setupScale,
  setupTile,
  setupTiledScale,
  type ScaleSetup,
  type TiledScale,
} from './targets.js';
import {
  blendInto,
  cropPlane,
  featherWeights,
  planRun,
  planSignature,
  positionOf,
  type PlaneImage,
  type RunPlan,
  type StepPosition,
  type TileRect,
} from './tiling.js';
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

/** Standard deviation of the `noise` start, in pixel units around the ImageNet mean colour. */
const NOISE_STD = 16;
const PREVIEW_FORMAT = 'jpeg';

/** The smallest tile side worth optimising: below it the zero padding of every layer reaches most of the tile. */
const MIN_TILE_SIDE = 64;

/**
 * Checks images before any tensor work: readable, and large enough for relu5_x after four poolings. Sizes past the
 * backend's single pass are refined in tiles (tiling.ts), so only a backend that cannot hold a useful tile refuses.
 */
async function checkImages(params: ResolvedTransferParams, maxPixels: number) {
  const content = await probeImage(params.content, 'content');
  if (maxPixels < MIN_TILE_SIDE * MIN_TILE_SIDE) {
    const largest = largestSideWithin(content.width, content.height, maxPixels);
    throw new EngineInputError(
      'size',
      `this backend holds ${maxPixels} pixels, too few for tiles of ${MIN_TILE_SIDE}²`,
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

/** Encoded image bytes as optimiser pixels at this size (grey luminance for a luminance-only run). */
async function pixelsOf(
  bytes: Uint8Array,
  field: string,
  params: ResolvedTransferParams,
  shape: [number, number, number, number],
): Promise<tf.Tensor4D> {
  const [, height, width] = shape;
  const rgb = await decodeRgb(bytes, field, width, height);
  return tf.tidy(() => {
    const image = rgbTensor(rgb);
    return toVggSpace(params.preserveColors ? greyFromLuminance(luminance(image)) : image);
  });
}

/** The start of the first scale: the content, seeded noise, or a given image. */
async function initialPixels(
  params: ResolvedTransferParams,
  shape: [number, number, number, number],
): Promise<tf.Tensor4D> {
  const [, height, width] = shape;
  if (params.init === 'noise') return tf.tensor4d(gaussianNoise(height * width * 3, params.seed, NOISE_STD), shape);
  if (params.init === 'image') return pixelsOf(params.initImage!, 'initImage', params, shape);
  return pixelsOf(params.content, 'content', params, shape);
}

/**
 * The checkpoint a run resumes from, checked against its params and its plan (the same scales cut into the same
 * tiles) before any tensor work; none for a legacy image.
 */
function resumedCheckpoint(
  params: ResolvedTransferParams,
  identity: CheckpointIdentity,
  plan: RunPlan,
): CheckpointState | undefined {
  const resume = params.resume;
  if (!resume) return undefined;
  if (resume.step >= plan.totalSteps) {
    throw new EngineInputError(
      'resume.step',
      `is ${resume.step}, but this run has ${plan.totalSteps} steps`,
      `0..${plan.totalSteps - 1}`,
    );
  }
  if (!('state' in resume)) {
    if (plan.scales[positionOf(plan, resume.step).scale]!.tiles) {
      throw new EngineInputError(
        'resume.image',
        `step ${resume.step} falls in a scale refined in tiles, which an image checkpoint cannot continue`,
        'the state of a checkpoint event',
      );
    }
    return undefined;
  }
  const state = decodeCheckpoint(resume.state);
  if (state.step !== resume.step) {
    throw new EngineInputError(
      'resume.step',
      `is ${resume.step}, but the checkpoint was taken after step ${state.step}`,
    );
  }
  const tiled = plan.scales.some((scale) => scale.tiles);
  checkCheckpointBelongs(state, identity, (checkpoint) => {
    if (checkpoint.plan !== (tiled ? planSignature(plan) : undefined)) {
      return (
        'the checkpoint was cut into other scales or tiles than these params give on this backend ' +
        '(another memory limit, tileSize or tilePasses): resume it where the run was cut alike'
      );
    }
    const position = positionOf(plan, checkpoint.step);
    if (position.scale !== checkpoint.scale)
      return `step ${checkpoint.step} does not fall in its scale ${checkpoint.scale + 1}`;
    const scale = plan.scales[position.scale]!;
    if (scale.tiles) {
      const rect = scale.tiles[position.tile!]!;
      const tile = checkpoint.tile;
      const where = `tile ${position.tile! + 1} of pass ${position.pass! + 1}`;
      if (!tile || tile.index !== position.tile || tile.pass !== position.pass)
        return `step ${checkpoint.step} falls in ${where}, the checkpoint holds another`;
      if (tile.image.shape.join() !== [1, rect.height, rect.width, 3].join())
        return `its tile is ${tile.image.shape[2]}×${tile.image.shape[1]}, ${where} is ${rect.width}×${rect.height}`;
    } else if (checkpoint.tile) {
      return `it holds a tile, but step ${checkpoint.step} falls in a whole-image scale`;
    }
    return [1, scale.height, scale.width, 3];
  });
  return state;
}

/**
 * Runs one transfer and yields its events. Parameters and images are checked before any tensor work
 * (EngineInputError); every tensor the run made is released when it ends, however it ends.
 *
 * Scales the backend holds whole are optimised whole; larger ones (or larger than tileSize) are refined tile by tile
 * (tiling.ts): the whole image on the CPU, each tile cut from it, optimised `steps` steps against its own content
 * targets and the scale's style targets, and blended back with feathered edges, so the next tile starts from its
 * neighbours' result.
 */
export async function* gatysTransfer(
  input: TransferParams,
  context: GatysContext,
): AsyncGenerator<TransferEvent, void, undefined> {
  const params = resolveTransferParams(input);
  const checkpointEvery = checkCheckpointEvery(context.checkpointEvery);
  const maxPixels = context.maxPixels ?? Number.POSITIVE_INFINITY;
  const probes = await checkImages(params, maxPixels);
  const identity = checkpointIdentity(params);
  const plan = planRun(probes.content, params, maxPixels);
  /** Dropped once restored: its arrays are ~40× the image with a full L-BFGS memory. */
  let restore = resumedCheckpoint(params, identity, plan);
  const began = performance.now();
  const { totalSteps } = plan;
  const finest = plan.scales.at(-1)!;
  yield {
    type: 'started',
    width: finest.width,
    height: finest.height,
    totalSteps,
    scaleSizes: plan.scales.map((scale) => scale.size),
    backend: context.backend ?? tf.getBackend(),
  };
  const weights = lossWeights(params);
  /** The targets of what is being optimised: a whole scale's, or the current tile's. */
  let setup: ScaleSetup | undefined;
  let tiled: TiledScale | undefined;
  /** At a tiled scale: the whole image, in VGG space, on the CPU. */
  let plane: PlaneImage | undefined;
  /** What is being optimised, in VGG space: the whole image or the current tile, replaced by each step. */
  let x: tf.Tensor4D | undefined;
  let optimizer: PixelOptimizer | undefined;
  let last: Losses | undefined;
  /** The tile being optimised, at a tiled scale. */
  let current: { index: number; pass: number; rect: TileRect } | undefined;
  // A resumed run picks up at the scale (and tile) and step its checkpoint was taken at, from the checkpoint's image
  // (and, from a full checkpoint, its optimiser's state).
  let step = params.resume?.step ?? 0;
  let resumeAt: StepPosition | undefined = positionOf(plan, step);
  let lastCheckpoint = step;
  /** At a tiled scale: the whole image as the current pass found it; each tile adds weight·(tile − base). */
  let base: Float32Array | undefined;
  /** The whole image as it would be if the current tile were put back now: what previews show. */
  const composite = async (): Promise<RgbImage> => {
    const copy = { ...plane!, data: plane!.data.slice() };
    const { rect } = current!;
    blendInto(copy, base!, await toPlane(x!), rect, featherWeights(rect, tiled!.plan.tiles));
    return planeToRgb(copy, params.preserveColors ? tiled!.content : undefined);
  };
  /** The checkpoint of the run as it stands before its next step, at this scale. */
  const checkpoint = async (scale: number): Promise<Uint8Array> => {
    const [image, state] = await Promise.all([saveTensor(x!), optimizer!.exportState()]);
    if (!plane || !current) return encodeCheckpoint({ step, scale, image, optimizer: state, identity });
    return encodeCheckpoint({
      step,
      scale,
      image: savedPlane(plane),
      optimizer: state,
      identity,
      tile: { index: current.index, pass: current.pass, image, base: savedPlane({ ...plane, data: base! }) },
      plan: planSignature(plan),
    });
  };
  /** Steps `from`..steps−1 on x with setup's targets: a whole scale, or one tile in one pass. */
  async function* optimise(scaleIndex: number, from: number): AsyncGenerator<TransferEvent, void, undefined> {
    for (let i = from; i < params.steps; i++) {
      // Checkpoints are taken here, before a step, where the image and the optimiser are those of the scale (and tile)
      // the next step runs at: after a scale's or a tile's last step, the next one's start and a fresh optimiser.
      const stop = context.stop?.();
      const due = checkpointEvery > 0 && step > lastCheckpoint && step % checkpointEvery === 0;
      if (stop === 'checkpoint' || (due && !stop)) {
        yield { type: 'checkpoint', step, state: await checkpoint(scaleIndex) };
        lastCheckpoint = step;
      }
      if (stop) throw new TransferAbortedError(stop === 'checkpoint' ? `checkpointed after step ${step}` : undefined);
      const t0 = performance.now();
      const { losses, gradient } = await evaluate(context.vgg, x!, setup!, weights, params);
      let preview: RgbImage | undefined;
      try {
        step += 1;
        if (!Number.isFinite(losses.total)) throw new TransferDivergedError(step);
        last = losses;
        if (params.previewEvery > 0 && step % params.previewEvery === 0 && step < totalSteps) {
          preview = current ? await composite() : await toRgb(x!, setup!);
        }
        // The run's last step is not followed by an update: the result is the image whose losses we report.
        if (step < totalSteps) {
          const next = await optimizer!.step(x!, gradient);
          x!.dispose();
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
        ...(current && tiled
          ? { tile: current.index + 1, tiles: tiled.plan.tiles.length, pass: current.pass + 1 }
          : {}),
      };
      if (preview) {
        const image = await encodeRgb(preview, PREVIEW_FORMAT, { maxSide: params.previewSize, quality: 80 });
        yield { type: 'preview', step, image };
      }
    }
  }
  /** A fresh optimiser for what starts now, or the checkpoint's when this is where the run resumes. */
  const startOptimizer = () => {
    optimizer?.dispose();
    optimizer = undefined;
    optimizer = createOptimizer(params);
    if (restore) {
      optimizer.importState(restore.optimizer);
      restore = undefined;
    }
  };
  try {
    for (const [scaleIndex, scale] of plan.scales.entries()) {
      if (resumeAt && scaleIndex < resumeAt.scale) continue;
      const resumedHere = resumeAt?.scale === scaleIndex ? resumeAt : undefined;
      resumeAt = undefined;
      if (!scale.tiles) {
        const previous = setup;
        setup = await setupScale(context.vgg, params, scale, probes.styles, context.gramCache, maxPixels);
        if (previous && x) {
          const upsampled = tf.tidy(() => tf.image.resizeBilinear(x!, [scale.height, scale.width]));
          x.dispose();
          x = upsampled;
        } else if (restore) x = loadTensor(restore.image);
        else if (params.resume && 'image' in params.resume)
          x = await pixelsOf(params.resume.image, 'resume.image', params, setup.shape);
        else x = params.init === 'content' ? setup.contentStart!.clone() : await initialPixels(params, setup.shape);
        disposeScale(previous);
        startOptimizer();
        yield* optimise(scaleIndex, resumedHere?.inner ?? 0);
        continue;
      }
      const tiles = scale.tiles;
      const previousTiled = tiled;
      tiled = await setupTiledScale(
        context.vgg,
        params,
        { ...scale, tiles },
        probes.styles,
        context.gramCache,
        maxPixels,
      );
      disposeMap(previousTiled?.styleGrams);
      // The whole image at this scale, on the CPU: the checkpoint's, the previous scale's upsampled, or the start.
      /** A checkpoint taken mid-pass brings the pass's base along. */
      let baseRestored = false;
      if (restore) {
        plane = planeOf(restore.image);
        base = planeOf(restore.tile!.base).data;
        baseRestored = true;
      } else if (plane) plane = await resizedPlane(plane, scale.width, scale.height);
      else if (x) plane = await resizedPlane(x, scale.width, scale.height);
      else {
        const start = await initialPixels(params, [1, scale.height, scale.width, 3]);
        try {
          plane = await toPlane(start);
        } finally {
          start.dispose();
        }
      }
      x?.dispose();
      x = undefined;
      disposeScale(setup);
      setup = undefined;
      for (let pass = resumedHere?.pass ?? 0; pass < plan.passes; pass++) {
        const firstTile = resumedHere && pass === resumedHere.pass ? resumedHere.tile! : 0;
        if (!baseRestored) base = plane.data.slice();
        baseRestored = false;
        for (let index = firstTile; index < tiles.length; index++) {
          const rect = tiles[index]!;
          current = { index, pass, rect };
          setup = setupTile(context.vgg, params, tiled, rect);
          x = restore?.tile ? loadTensor(restore.tile.image) : planeTensor(cropPlane(plane, rect));
          startOptimizer();
          const resumedTile = resumedHere && pass === resumedHere.pass && index === firstTile;
          yield* optimise(scaleIndex, resumedTile ? resumedHere.inner : 0);
          blendInto(plane, base!, await toPlane(x), rect, featherWeights(rect, tiles));
          if (step < totalSteps) {
            x.dispose();
            x = undefined;
            disposeTile(setup);
            setup = undefined;
          }
        }
      }
    }
    const rgb = plane
      ? await planeToRgb(plane, params.preserveColors ? tiled!.content : undefined)
      : await toRgb(x!, setup!);
    const image = await encodeRgb(rgb, 'png');
    yield { type: 'done', image, losses: last!, steps: step, ms: performance.now() - began };
  } finally {
    optimizer?.dispose();
    x?.dispose();
    if (current) disposeTile(setup);
    else disposeScale(setup);
    disposeMap(tiled?.styleGrams);
  }
}
