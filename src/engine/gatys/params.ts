// Gatys transfer parameters: their defaults, their ranges, and the one validator every entry point calls
// (CLI, worker, GraphQL) before any tensor work.
import { EngineInputError } from '../errors.js';
import { largestBuffer, type BackendLimits } from '../runtime/backend-info.js';
import { CONTENT_LAYER_NAMES, STYLE_LAYER_NAMES } from './layers.js';

export const OPTIMIZERS = ['lbfgs', 'adam'] as const;
export const INITS = ['content', 'noise', 'image'] as const;
export const POOLINGS = ['max', 'avg'] as const;

export type Optimizer = (typeof OPTIMIZERS)[number];
export type Init = (typeof INITS)[number];
export type Pooling = (typeof POOLINGS)[number];

export interface StyleInput {
  /** Encoded image (JPEG, PNG, WebP, …). */
  image: Uint8Array;
  /** Blend weight; weights are normalised to sum to 1. Default 1. */
  weight?: number;
}

/** Tunable parameters of a Gatys run (everything except the images). */
export interface GatysOptions {
  /** Longest side of the output in pixels. */
  size: number;
  /** Optimisation steps (objective evaluations) per scale. */
  steps: number;
  optimizer: Optimizer;
  /** Adam step size in pixel units; L-BFGS step scale (1 = plain L-BFGS). */
  learningRate: number;
  /** L-BFGS memory (pairs of past steps kept). */
  lbfgsHistory: number;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  contentLayers: string[];
  /** One weight per content layer; default all 1. */
  contentLayerWeights?: number[];
  styleLayers: string[];
  /** One weight per style layer; default all 1. */
  styleLayerWeights?: number[];
  pooling: Pooling;
  init: Init;
  /** Seed for `noise` init; the same seed and backend give the same run. */
  seed: number;
  /** Style images are resized to size × styleScale (longest side). */
  styleScale: number;
  /** Luminance-only transfer: keep the content's colours. */
  preserveColors: boolean;
  /** Coarse-to-fine scales; each one doubles the size and starts from the previous result. 1 = single scale. */
  scales: number;
  /** A preview every N steps (0 = none). */
  previewEvery: number;
  /** Longest side of previews in pixels. */
  previewSize: number;
  /**
   * Refine in tiles of at most this many pixels a side (overlap included) every scale larger than that, even one the
   * backend could run whole. 0: tile only the scales past the backend's single-pass limit, as large as it allows.
   */
  tileSize: number;
  /** Passes over the tiles of a tiled scale, each tile optimised `steps` steps per pass. */
  tilePasses: number;
}

export interface TransferParams extends Partial<GatysOptions> {
  content: Uint8Array;
  styles: StyleInput[];
  /** Starting image for init = 'image'. */
  initImage?: Uint8Array;
  /** Continue a checkpointed run from the state of its checkpoint event (or a legacy PNG checkpoint). */
  resume?: ResumeFrom;
}

/**
 * Where a resumed run starts: `state`, a checkpoint event's state (the image in full precision and the optimiser's
 * state: the run continues its curve exactly), or, from checkpoints saved before those existed, `image`, an encoded
 * image (the optimiser starts afresh from it). `step`: the steps the checkpoint had done.
 */
export type ResumeFrom = { state: Uint8Array; step: number } | { image: Uint8Array; step: number };

export interface ResolvedTransferParams extends GatysOptions {
  content: Uint8Array;
  styles: { image: Uint8Array; weight: number }[];
  initImage?: Uint8Array;
  contentLayerWeights: number[];
  styleLayerWeights: number[];
  resume?: ResumeFrom;
}

export const GATYS_DEFAULTS: GatysOptions = {
  size: 512,
  steps: 500,
  optimizer: 'lbfgs',
  learningRate: 1,
  lbfgsHistory: 20,
  contentWeight: 5,
  styleWeight: 100,
  tvWeight: 100,
  contentLayers: ['relu4_2'],
  styleLayers: ['relu1_1', 'relu2_1', 'relu3_1', 'relu4_1', 'relu5_1'],
  pooling: 'max',
  init: 'content',
  seed: 0,
  styleScale: 1,
  preserveColors: false,
  scales: 1,
  previewEvery: 10,
  previewSize: 256,
  tileSize: 0,
  tilePasses: 1,
};

/** Largest output side, whole or tiled; a server may set a lower one (MAX_OUTPUT_SIDE). */
export const MAX_OUTPUT_SIDE = 4096;

/** Default Adam step size when the caller picks Adam without one (pixel units, as neural-style). */
export const ADAM_DEFAULT_LEARNING_RATE = 10;

/** Ranges, in one place so errors, GraphQL docs and the CLI agree. */
export const LIMITS = {
  size: { min: 32, max: MAX_OUTPUT_SIDE },
  steps: { min: 1, max: 5000 },
  scales: { min: 1, max: 4 },
  styles: { min: 1, max: 8 },
  styleScale: { min: 0.1, max: 4 },
  learningRate: { min: 1e-6, max: 1e4 },
  lbfgsHistory: { min: 1, max: 200 },
  previewEvery: { min: 0, max: 5000 },
  previewSize: { min: 16, max: 1024 },
  /** 0 = automatic; else the longest tile side, overlap included. */
  tileSize: { min: 64, max: MAX_OUTPUT_SIDE },
  tilePasses: { min: 1, max: 4 },
  weight: { min: 0, max: 1e12 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  /** Smallest side the network can see: relu5_x sits below four 2× poolings. */
  minSide: 16,
} as const;

function checkInt(field: string, value: number, range: { min: number; max: number }): void {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw new EngineInputError(field, `must be an integer, got ${value}`, `${range.min}..${range.max}`);
  }
}

function checkNumber(field: string, value: number, range: { min: number; max: number }): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < range.min || value > range.max) {
    throw new EngineInputError(field, `must be a finite number, got ${value}`, `${range.min}..${range.max}`);
  }
}

function checkChoice<T extends string>(field: string, value: string, choices: readonly T[]): asserts value is T {
  if (!choices.includes(value as T)) {
    throw new EngineInputError(field, `unknown value "${value}"`, choices.join(', '));
  }
}

function checkBytes(field: string, bytes: unknown): void {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) {
    throw new EngineInputError(field, 'empty or missing image', 'a non-empty JPEG, PNG, WebP, GIF, TIFF or AVIF file');
  }
}

function checkLayers(field: string, layers: unknown, valid: readonly string[]): string[] {
  if (!Array.isArray(layers) || layers.length === 0)
    throw new EngineInputError(field, 'needs at least one layer', valid.join(', '));
  for (const [i, name] of layers.entries()) checkChoice(`${field}[${i}]`, String(name), valid);
  if (new Set(layers).size !== layers.length)
    throw new EngineInputError(field, 'lists a layer twice', valid.join(', '));
  return layers as string[];
}

function checkLayerWeights(field: string, weights: number[] | undefined, count: number): number[] {
  if (weights === undefined) return new Array<number>(count).fill(1);
  if (!Array.isArray(weights) || weights.length !== count) {
    throw new EngineInputError(
      field,
      `needs one weight per layer (${count}), got ${Array.isArray(weights) ? weights.length : typeof weights}`,
    );
  }
  weights.forEach((w, i) => checkNumber(`${field}[${i}]`, w, LIMITS.weight));
  return weights;
}

/** Checks and completes the tunable options; shared by presets (no images) and transfers. */
export function resolveGatysOptions(
  input: Partial<GatysOptions>,
): GatysOptions & { contentLayerWeights: number[]; styleLayerWeights: number[] } {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined && v !== null));
  const merged: GatysOptions = { ...GATYS_DEFAULTS, ...defined };
  if (input.optimizer === 'adam' && input.learningRate == null) merged.learningRate = ADAM_DEFAULT_LEARNING_RATE;
  checkInt('size', merged.size, LIMITS.size);
  checkInt('steps', merged.steps, LIMITS.steps);
  checkChoice('optimizer', merged.optimizer, OPTIMIZERS);
  checkNumber('learningRate', merged.learningRate, LIMITS.learningRate);
  checkInt('lbfgsHistory', merged.lbfgsHistory, LIMITS.lbfgsHistory);
  checkNumber('contentWeight', merged.contentWeight, LIMITS.weight);
  checkNumber('styleWeight', merged.styleWeight, LIMITS.weight);
  checkNumber('tvWeight', merged.tvWeight, LIMITS.weight);
  checkChoice('pooling', merged.pooling, POOLINGS);
  checkChoice('init', merged.init, INITS);
  checkInt('seed', merged.seed, LIMITS.seed);
  checkNumber('styleScale', merged.styleScale, LIMITS.styleScale);
  if (typeof merged.preserveColors !== 'boolean') throw new EngineInputError('preserveColors', 'must be true or false');
  checkInt('scales', merged.scales, LIMITS.scales);
  checkInt('previewEvery', merged.previewEvery, LIMITS.previewEvery);
  checkInt('previewSize', merged.previewSize, LIMITS.previewSize);
  if (merged.tileSize !== 0) checkInt('tileSize', merged.tileSize, LIMITS.tileSize);
  checkInt('tilePasses', merged.tilePasses, LIMITS.tilePasses);
  const contentLayers = checkLayers('contentLayers', merged.contentLayers, CONTENT_LAYER_NAMES);
  const styleLayers = checkLayers('styleLayers', merged.styleLayers, STYLE_LAYER_NAMES);
  const smallest = Math.floor(merged.size / 2 ** (merged.scales - 1));
  if (smallest < LIMITS.size.min) {
    throw new EngineInputError(
      'scales',
      `${merged.scales} scales from size ${merged.size} start at ${smallest} px, below ${LIMITS.size.min}`,
      `1..${Math.max(1, Math.floor(Math.log2(merged.size / LIMITS.size.min)) + 1)} at this size`,
    );
  }
  return {
    ...merged,
    contentLayers,
    styleLayers,
    contentLayerWeights: checkLayerWeights('contentLayerWeights', merged.contentLayerWeights, contentLayers.length),
    styleLayerWeights: checkLayerWeights('styleLayerWeights', merged.styleLayerWeights, styleLayers.length),
  };
}

function checkResume(resume: ResumeFrom): void {
  if (typeof resume !== 'object')
    throw new EngineInputError('resume', 'must be { state, step } or { image, step }', "a checkpoint event's state");
  const hasState = 'state' in resume && resume.state !== undefined && resume.state !== null;
  const hasImage = 'image' in resume && resume.image !== undefined && resume.image !== null;
  if (hasState === hasImage) {
    throw new EngineInputError(
      'resume',
      hasState ? 'has both a state and an image' : 'has neither a state nor an image',
      "{ state, step } (a checkpoint event's state) or { image, step } (a legacy PNG checkpoint)",
    );
  }
  if (hasState) {
    const state = (resume as { state: unknown }).state;
    if (!(state instanceof Uint8Array) || state.byteLength === 0)
      throw new EngineInputError('resume.state', 'empty or missing checkpoint', 'the state of a checkpoint event');
  } else {
    checkBytes('resume.image', (resume as { image: unknown }).image);
  }
  // The upper bound depends on the image (a tiled scale takes steps × tiles × passes): the transfer checks it.
  checkInt('resume.step', resume.step, { min: 0, max: Number.MAX_SAFE_INTEGER });
}

/** Validates a whole transfer request; throws EngineInputError naming the field and the valid values. */
export function resolveTransferParams(params: TransferParams): ResolvedTransferParams {
  if (params === null || typeof params !== 'object') throw new EngineInputError('params', 'must be an object');
  const { content, styles, initImage, resume, ...options } = params;
  checkBytes('content', content);
  if (!Array.isArray(styles) || styles.length < LIMITS.styles.min || styles.length > LIMITS.styles.max) {
    throw new EngineInputError(
      'styles',
      `needs ${LIMITS.styles.min} to ${LIMITS.styles.max} style images, ` +
        `got ${Array.isArray(styles) ? styles.length : 0}`,
    );
  }
  const resolvedStyles = styles.map((style, i) => {
    checkBytes(`styles[${i}].image`, style?.image);
    const weight = style.weight ?? 1;
    checkNumber(`styles[${i}].weight`, weight, LIMITS.weight);
    return { image: style.image, weight };
  });
  if (resolvedStyles.every((s) => s.weight === 0))
    throw new EngineInputError('styles', 'all style weights are 0', 'at least one weight > 0');
  const resolved = resolveGatysOptions(options);
  if (resolved.init === 'image') checkBytes('initImage', initImage);
  if (resume !== undefined && resume !== null) checkResume(resume);
  return {
    ...resolved,
    content,
    styles: resolvedStyles,
    ...(initImage ? { initImage } : {}),
    ...(resume ? { resume } : {}),
  };
}

/**
 * Bytes per output pixel of the largest single tensor of a step: the 64-channel float32 activations and gradients of
 * the relu1 block (`npm run bench:kernels` prints it from a profiled step). On WebGPU one tensor is one buffer, which
 * maxStorageBufferBindingSize bounds.
 */
export const GATYS_LARGEST_TENSOR_BYTES_PER_PIXEL = 256;

/**
 * Output pixels a backend can afford. Peak tensor memory of one step is about 160 MB + 4 KB per pixel
 * (`npm run bench:kernels`): on wasm, whose heap stops at 4 GiB, 768² runs and 1024² does not. On WebGPU the adapter's
 * largest buffer binding bounds the largest tensor of a step.
 */
export function maxPixelsFor(backend: BackendLimits): number {
  if (backend.tfBackend === 'tensorflow') return 2048 * 2048;
  if (backend.tfBackend === 'webgpu' && backend.adapter) {
    return Math.floor(largestBuffer(backend.adapter) / GATYS_LARGEST_TENSOR_BYTES_PER_PIXEL);
  }
  return 768 * 768;
}

/** Output size of one scale: scale i of n (0 = coarsest) has longest side size / 2^(n-1-i). */
export function scaleSizes(size: number, scales: number): number[] {
  return Array.from({ length: scales }, (_, i) => Math.round(size / 2 ** (scales - 1 - i)));
}
