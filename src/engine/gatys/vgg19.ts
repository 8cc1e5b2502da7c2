// VGG19 feature extractor (conv1_1…conv5_4) and the image gradient of a loss on its features.
// The gradient is taken by hand, layer by layer, rather than by tfjs autodiff: autodiff keeps every intermediate
// gradient until the pass ends (about 4x the activations: 2.5 GB at 512² on wasm, whose heap stops at 4 GiB),
// and computes a kernel gradient the optimiser never uses. By hand, each activation and gradient is freed as soon
// as the layer below has used it. The conv input, max-pool and Gram gradients each have two forms (tfjs's kernel or a
// rewrite, see kernels.ts); the network takes the ones measured fastest on the backend it is built on.
import * as tf from '@tensorflow/tfjs';
import {
  avgPoolGradient,
  convInputGradient,
  currentKernelChoices,
  flipKernel,
  type KernelChoices,
  maxPoolGradient,
} from './kernels.js';
import { CONV_LAYERS, RELU_LAYERS, VGG_MEAN_RGB } from './layers.js';

export { CONV_LAYERS, RELU_LAYERS, VGG_MEAN_RGB };

export interface ConvWeights {
  /** HWIO kernel. */
  kernel: tf.Tensor4D;
  bias: tf.Tensor1D;
  /**
   * Kernel flipped in H and W with in/out swapped: the input gradient is conv2d(dy, flipped). Only kept when the
   * conv input gradient is `flipped-conv`.
   */
  flipped?: tf.Tensor4D;
}

export type Pooling = 'max' | 'avg';

/** The loss terms of an image given its tapped features; the objective is their sum. */
export type FeatureObjective = (image: tf.Tensor4D, features: Map<string, tf.Tensor4D>) => tf.Tensor1D;

/** Conv layer i is followed by a 2×2 pooling when the next layer starts a new block. */
function poolsAfter(i: number): boolean {
  const next = CONV_LAYERS[i + 1];
  return next !== undefined && next.split('_')[0] !== CONV_LAYERS[i]!.split('_')[0];
}

function pool(x: tf.Tensor4D, kind: Pooling): tf.Tensor4D {
  return kind === 'max' ? tf.maxPool(x, 2, 2, 'valid') : tf.avgPool(x, 2, 2, 'valid');
}

export class Vgg19 {
  private constructor(
    private readonly layers: Map<string, ConvWeights>,
    /** Where the weights came from, for engineInfo(). */
    readonly source: string,
    /** The gradient kernels of the backward pass: those of the backend the weights were created on. */
    readonly kernels: Readonly<KernelChoices>,
  ) {}

  /**
   * Builds the network from named kernels and biases: `conv1_1/kernel` as [W,H,in,out] (MatConvNet layout, the
   * format of the weights manifest) and `conv1_1/bias`. Takes ownership of the tensors it is given. `kernels`
   * defaults to the table's choices for the current backend, where the weights live.
   */
  static fromNamedTensors(
    tensors: tf.NamedTensorMap,
    source: string,
    kernels: KernelChoices = currentKernelChoices(),
  ): Vgg19 {
    const layers = new Map<string, ConvWeights>();
    for (const name of CONV_LAYERS) {
      const kernelWhio = tensors[`${name}/kernel`];
      const bias = tensors[`${name}/bias`];
      if (!kernelWhio || !bias) throw new Error(`weights for ${name} are missing`);
      const kernel = tf.transpose(kernelWhio, [1, 0, 2, 3]) as tf.Tensor4D;
      kernelWhio.dispose();
      const weights: ConvWeights = { kernel, bias: bias as tf.Tensor1D };
      if (kernels.convInputGradient === 'flipped-conv') weights.flipped = flipKernel(kernel);
      layers.set(name, weights);
    }
    for (const [name, t] of Object.entries(tensors)) if (!layers.has(name.split('/')[0]!)) t.dispose();
    return new Vgg19(layers, source, Object.freeze({ ...kernels }));
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
   * Runs the network on images already in VGG space (RGB − mean, 0..255 scale), [1,H,W,3], up to the deepest layer
   * asked for, and returns those relu activations. Forward only: for targets and previews.
   */
  features(input: tf.Tensor4D, names: Iterable<string>, pooling: Pooling = 'max'): Map<string, tf.Tensor4D> {
    const wanted = [...new Set(names)];
    const last = this.depthOf(wanted);
    // tidy frees the layers not asked for and hands the others to the caller's scope (it does not look into Maps).
    const tensors = tf.tidy(() => {
      const out = new Map<string, tf.Tensor4D>();
      let x = input;
      for (let i = 0; i <= last; i++) {
        x = this.convRelu(i, x);
        out.set(RELU_LAYERS[i]!, x);
        if (i < last && poolsAfter(i)) x = pool(x, pooling);
      }
      return wanted.map((name) => out.get(name)!);
    });
    return new Map(wanted.map((name, k) => [name, tensors[k]!]));
  }

  /**
   * The loss terms of `objective` on the image's features and the gradient of their sum with respect to the
   * image. Every intermediate tensor is released before returning; the caller owns the two results.
   */
  valueAndGradient(
    image: tf.Tensor4D,
    names: Iterable<string>,
    pooling: Pooling,
    objective: FeatureObjective,
  ): { terms: tf.Tensor1D; gradient: tf.Tensor4D } {
    const taps = [...new Set(names)];
    const last = this.depthOf(taps);
    const activations: tf.Tensor4D[] = [];
    const pooled: (tf.Tensor4D | undefined)[] = [];
    const tapGradients = new Map<string, tf.Tensor4D>();
    let terms: tf.Tensor1D | undefined;
    let imageGradient: tf.Tensor4D | undefined;
    let gradient: tf.Tensor4D | undefined;
    try {
      let x = image;
      for (let i = 0; i <= last; i++) {
        x = activations[i] = this.convRelu(i, x);
        if (i < last && poolsAfter(i)) x = pooled[i] = pool(x, pooling);
      }
      // The loss is small next to the network: let tfjs differentiate it with respect to the image (TV) and taps.
      const inputs = [image, ...taps.map((name) => activations[RELU_LAYERS.indexOf(name)]!)];
      const grads = tf.tidy(() =>
        tf.grads((...args: tf.Tensor[]) => {
          const features = new Map(taps.map((name, k) => [name, args[k + 1] as tf.Tensor4D]));
          terms = tf.keep(objective(args[0] as tf.Tensor4D, features));
          return tf.sum(terms);
        })(inputs),
      ) as tf.Tensor4D[];
      imageGradient = grads[0];
      taps.forEach((name, k) => tapGradients.set(name, grads[k + 1]!));
      for (let i = last; i >= 0; i--) {
        if (pooled[i]) {
          const below =
            pooling === 'max'
              ? maxPoolGradient(gradient!, activations[i]!, pooled[i]!, this.kernels.maxPoolGradient)
              : avgPoolGradient(gradient!, activations[i]!);
          gradient!.dispose();
          pooled[i]!.dispose();
          pooled[i] = undefined;
          gradient = below;
        }
        const tap = tapGradients.get(RELU_LAYERS[i]!);
        if (tap) {
          const sum = gradient ? tf.add<tf.Tensor4D>(gradient, tap) : tap.clone();
          gradient?.dispose();
          gradient = sum;
        }
        const activation = activations[i]!;
        const dy = gradient!;
        const weights = this.layers.get(CONV_LAYERS[i]!)!;
        const [, h, w] = activation.shape;
        const inputShape: [number, number, number, number] = [1, h, w, weights.kernel.shape[2]];
        gradient = tf.tidy(() =>
          convInputGradient(
            tf.mul<tf.Tensor4D>(dy, tf.step(activation)),
            weights,
            inputShape,
            this.kernels.convInputGradient,
          ),
        );
        dy.dispose();
        activation.dispose();
      }
      const total = tf.add<tf.Tensor4D>(gradient!, imageGradient!);
      gradient!.dispose();
      gradient = undefined;
      return { terms: terms!, gradient: total };
    } catch (error) {
      terms?.dispose();
      throw error;
    } finally {
      tf.dispose([
        ...activations,
        ...pooled.filter((t): t is tf.Tensor4D => t !== undefined),
        ...tapGradients.values(),
      ]);
      imageGradient?.dispose();
      gradient?.dispose();
    }
  }

  private convRelu(i: number, x: tf.Tensor4D): tf.Tensor4D {
    const w = this.layers.get(CONV_LAYERS[i]!)!;
    return tf.fused.conv2d({ x, filter: w.kernel, strides: 1, pad: 'same', bias: w.bias, activation: 'relu' });
  }

  dispose(): void {
    for (const w of this.layers.values()) {
      w.kernel.dispose();
      w.bias.dispose();
      w.flipped?.dispose();
    }
    this.layers.clear();
  }
}

/** Converts 0..255 RGB to VGG space. */
export function toVggSpace(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.sub<tf.Tensor4D>(rgb, tf.tensor1d([...VGG_MEAN_RGB]));
}

/** Converts VGG space back to 0..255 RGB (unclamped). */
export function fromVggSpace(x: tf.Tensor4D): tf.Tensor4D {
  return tf.add<tf.Tensor4D>(x, tf.tensor1d([...VGG_MEAN_RGB]));
}
