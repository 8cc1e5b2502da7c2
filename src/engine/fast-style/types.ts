// What the rest of the engine sees of a fast-style model, whatever its architecture and file format.
import type * as tf from '@tensorflow/tfjs';

/** Network layouts: Engstrom's TensorFlow TransformNet (ml5), and the PyTorch examples' TransformerNet. */
export const ARCHITECTURES = ['engstrom', 'pytorch'] as const;
/** Files a model can come in: a deeplearn.js checkpoint folder (ml5), or an ncnn .param with its .bin. */
export const MODEL_FORMATS = ['ml5-checkpoint', 'ncnn'] as const;

export type Architecture = (typeof ARCHITECTURES)[number];
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** Which architecture each format holds (the only pairs that load). */
export const FORMAT_ARCHITECTURE: Record<ModelFormat, Architecture> = { 'ml5-checkpoint': 'engstrom', ncnn: 'pytorch' };

export interface StyleModelSource {
  architecture: Architecture;
  format: ModelFormat;
  /** ml5-checkpoint: the folder that holds manifest.json. ncnn: the .param file (its .bin beside it). */
  path: string;
}

/** Per-channel statistics of an instance norm's input: [C] tensors. */
export interface NormStatistics {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * A look at, and a say in, each instance norm of a pass, numbered 0, 1, … in the network's order. A tiled pass uses it
 * to normalise every tile with the whole image's statistics instead of the tile's own, and to measure them.
 */
export interface InstanceNormHook {
  /**
   * The mean and variance to normalise norm `index` with, instead of its input's own (undefined: its own). The tensors
   * stay the hook's; the pass does not free them.
   */
  statistics?: (index: number) => NormStatistics | undefined;
  /**
   * Sees norm `index`'s input before it is normalised. `scale` is how many input pixels one of its pixels spans along
   * each axis (1, 2 or 4). Called inside the layer's tf.tidy: tf.keep() whatever outlives the call. It may throw to end
   * the pass there (the pass's own tensors are freed and stylize rethrows).
   */
  observe?: (index: number, x: tf.Tensor4D, scale: number) => void;
}

export interface StylizeOptions {
  /** Polled between layers; when it returns true the pass stops with TransferAbortedError, its tensors freed. */
  interrupt?: () => boolean;
  /** Instance-norm statistics to use and to observe; without it each norm uses its input's own (a plain pass). */
  norm?: InstanceNormHook;
}

export interface StyleModel {
  readonly architecture: Architecture;
  readonly format: ModelFormat;
  /** Where it was loaded from. */
  readonly path: string;
  /** Output channels of each layer, from the weights (e.g. 32, 64, 128, …, 3). */
  readonly channels: readonly number[];
  /** Instance norms in a pass (what InstanceNormHook numbers 0 … instanceNorms − 1). */
  readonly instanceNorms: number;
  /**
   * [1,H,W,3] RGB 0..255 → [1,H,W,3] RGB clamped to 0..255, any H and W ≥ 1. The caller owns the result; every
   * other tensor of the pass is freed.
   */
  stylize(rgb: tf.Tensor4D, options?: StylizeOptions): tf.Tensor4D;
  /** Frees the weights; the model cannot be used afterwards. */
  dispose(): void;
}
