// VGG19 feature extractor (conv1_1…conv5_4) for Gatys losses.
// Convolutions are fused conv+bias+ReLU with a custom gradient that returns only the input gradient, computed as a
// forward conv2d with the flipped, in/out-transposed kernel: on wasm this is bit-identical to Conv2DBackpropInput
// and several times faster, and it skips the kernel gradient that tfjs's fused conv would compute for nothing.
import * as tf from '@tensorflow/tfjs';
import { customUnaryOp } from './custom-grad.js';

/** Convolution blocks of VGG19: [block, convs in block, channels]. */
const BLOCKS: [number, number, number][] = [
  [1, 2, 64],
  [2, 2, 128],
  [3, 4, 256],
  [4, 4, 512],
  [5, 4, 512],
];

export const CONV_LAYERS: string[] = BLOCKS.flatMap(([b, n]) => Array.from({ length: n }, (_, i) => `conv${b}_${i + 1}`));
/** Names users pick losses from (after the ReLU, as in neural-style). */
export const RELU_LAYERS: string[] = CONV_LAYERS.map((name) => name.replace('conv', 'relu'));
export const CONTENT_LAYER_NAMES = RELU_LAYERS;
export const STYLE_LAYER_NAMES = RELU_LAYERS;

/** RGB mean subtracted from 0..255 input (ImageNet, as the Caffe VGG19 was trained). */
export const VGG_MEAN_RGB = [123.68, 116.779, 103.939] as const;

export interface ConvWeights {
  /** HWIO kernel. */
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
  /** Kernel flipped in H and W with in/out swapped: the input gradient is conv2d(dy, flipped). */
  flipped: tf.Tensor4D;
}

export type Pooling = 'max' | 'avg';

function convRelu(x: tf.Tensor4D, weights: ConvWeights): tf.Tensor4D {
  const op = customUnaryOp<tf.Tensor4D, tf.Tensor4D>((input, save) => {
    const y = tf.fused.conv2d({ x: input, filter: weights.kernel, strides: 1, pad: 'same', bias: weights.bias, activation: 'relu' });
    save([y]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [activated] = saved as [tf.Tensor4D];
        const dyRelu = tf.mul(dy, tf.step(activated)) as tf.Tensor4D;
        return tf.conv2d(dyRelu, weights.flipped, 1, 'same');
      },
    };
  });
  return op(x);
}

/**
 * 2×2/2 max pooling whose gradient routes dy to the window maxima with a nearest-neighbour upsample and an
 * equality mask: ~3x faster than wasm's MaxPoolGrad. Ties only occur between zeros of the ReLU below, whose own
 * mask removes them, so the gradient equals the exact one.
 */
function maxPool2x2(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  const evenH = h - (h % 2);
  const evenW = w - (w % 2);
  const op = customUnaryOp<tf.Tensor4D, tf.Tensor4D>((input, save) => {
    const y = tf.maxPool(input, 2, 2, 'valid');
    save([input, y]);
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [savedInput, savedOutput] = saved as [tf.Tensor4D, tf.Tensor4D];
        const even = evenH === h && evenW === w ? savedInput : tf.slice(savedInput, [0, 0, 0, 0], [1, evenH, evenW, c]);
        const maxima = tf.image.resizeNearestNeighbor(savedOutput, [evenH, evenW]);
        const spread = tf.image.resizeNearestNeighbor(dy, [evenH, evenW]);
        const dx = tf.mul(tf.cast(tf.equal(even, maxima), 'float32'), spread) as tf.Tensor4D;
        return evenH === h && evenW === w ? dx : tf.pad(dx, [[0, 0], [0, h - evenH], [0, w - evenW], [0, 0]]);
      },
    };
  });
  return op(x);
}

function pool(x: tf.Tensor4D, kind: Pooling): tf.Tensor4D {
  return kind === 'max' ? maxPool2x2(x) : tf.avgPool(x, 2, 2, 'valid');
}

export class Vgg19 {
  private constructor(
    private readonly layers: Map<string, ConvWeights>,
    /** Where the weights came from, for engineInfo(). */
    readonly source: string,
  ) {}

  /**
   * Builds the network from named kernels and biases: `conv1_1/kernel` as [W,H,in,out] (MatConvNet layout, the
   * format of the weights manifest) and `conv1_1/bias`. Takes ownership of the tensors it is given.
   */
  static fromNamedTensors(tensors: tf.NamedTensorMap, source: string): Vgg19 {
    const layers = new Map<string, ConvWeights>();
    for (const name of CONV_LAYERS) {
      const kernelWhio = tensors[`${name}/kernel`];
      const bias = tensors[`${name}/bias`];
      if (!kernelWhio || !bias) throw new Error(`weights for ${name} are missing`);
      const kernel = tf.transpose(kernelWhio, [1, 0, 2, 3]) as tf.Tensor4D;
      const flipped = tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
      kernelWhio.dispose();
      layers.set(name, { kernel, bias: bias as tf.Tensor1D, flipped });
    }
    for (const [name, t] of Object.entries(tensors)) if (!layers.has(name.split('/')[0]!)) t.dispose();
    return new Vgg19(layers, source);
  }

  /** The deepest conv layer index a set of relu names needs, so the forward pass stops there. */
  private depthOf(names: Iterable<string>): number {
    let depth = -1;
    for (const name of names) {
      const i = RELU_LAYERS.indexOf(name);
      if (i < 0) throw new Error(`unknown VGG19 layer ${name} (valid: ${RELU_LAYERS.join(', ')})`);
      depth = Math.max(depth, i);
    }
    return depth;
  }

  /**
   * Runs the network on images already in VGG space (RGB − mean, 0..255 scale), [1,H,W,3], and returns the
   * requested relu activations. Differentiable with respect to the input.
   */
  features(input: tf.Tensor4D, names: Iterable<string>, pooling: Pooling = 'max'): Map<string, tf.Tensor4D> {
    const wanted = new Set(names);
    const last = this.depthOf(wanted);
    const out = new Map<string, tf.Tensor4D>();
    let x = input;
    for (let i = 0; i <= last; i++) {
      const convName = CONV_LAYERS[i]!;
      const reluName = RELU_LAYERS[i]!;
      x = convRelu(x, this.layers.get(convName)!);
      if (wanted.has(reluName)) out.set(reluName, x);
      const next = CONV_LAYERS[i + 1];
      if (i < last && next && next.split('_')[0] !== convName.split('_')[0]) x = pool(x, pooling);
    }
    return out;
  }

  dispose(): void {
    for (const w of this.layers.values()) {
      w.kernel.dispose();
      w.bias.dispose();
      w.flipped.dispose();
    }
    this.layers.clear();
  }
}

/** Converts 0..255 RGB to VGG space. */
export function toVggSpace(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.sub(rgb, tf.tensor1d([...VGG_MEAN_RGB])) as tf.Tensor4D;
}

/** Converts VGG space back to 0..255 RGB (unclamped). */
export function fromVggSpace(x: tf.Tensor4D): tf.Tensor4D {
  return tf.add(x, tf.tensor1d([...VGG_MEAN_RGB])) as tf.Tensor4D;
}
