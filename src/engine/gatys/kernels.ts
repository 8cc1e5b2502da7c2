// The three places where the Gatys backward pass can use either tfjs's own kernel or a rewrite of it, and which one
// each backend gets. A rewrite that is many times faster on one backend can be slower on another, so every choice
// below comes from `npm run bench:kernels -- --backend <name>` on that backend (the figures are in
// bench/results/kernels-<backend>.json), never from another backend's numbers. Both variants of each compute the
// same gradient (test/engine-losses.test.ts, test/engine-vgg19.test.ts).
import * as tf from '@tensorflow/tfjs';

/**
 * The input gradient of a stride-1 'same' conv: `flipped-conv` is a forward conv2d of dy with the kernel flipped in H
 * and W and in/out transposed (the flipped copy is kept beside the weights); `backprop-input` is tfjs's
 * Conv2DBackpropInput (`tf.conv2dTranspose`, what tfjs's gradient of conv2d runs).
 */
export const CONV_INPUT_GRADIENTS = ['flipped-conv', 'backprop-input'] as const;
/**
 * The Gram product FᵀF of [H·W, C] features: `transpose-matmul` is an explicit transpose and a plain matMul, with a
 * hand-written gradient of one product F·(dG+dGᵀ); `matmul-transposed` is `matMul(F, F, true, false)` and tfjs's
 * gradient of it (two products).
 */
export const GRAM_PRODUCTS = ['transpose-matmul', 'matmul-transposed'] as const;
/**
 * The gradient of a 2×2/2 'valid' max pooling: `mask` spreads dy with a nearest-neighbour upsample onto the window
 * maxima found by an equality mask; `max-pool-grad` is tfjs's MaxPoolGrad kernel.
 */
export const MAX_POOL_GRADIENTS = ['mask', 'max-pool-grad'] as const;

export type ConvInputGradient = (typeof CONV_INPUT_GRADIENTS)[number];
export type GramProduct = (typeof GRAM_PRODUCTS)[number];
export type MaxPoolGradient = (typeof MAX_POOL_GRADIENTS)[number];

export interface KernelChoices {
  convInputGradient: ConvInputGradient;
  gram: GramProduct;
  maxPoolGradient: MaxPoolGradient;
}

/** What tfjs itself would run for each: the backend's own kernels. */
export const TFJS_DEFAULT_KERNELS: Readonly<KernelChoices> = Object.freeze({
  convInputGradient: 'backprop-input',
  gram: 'matmul-transposed',
  maxPoolGradient: 'max-pool-grad',
});

/** The engine's rewrites (its only choices before they were measured per backend). */
export const REWRITTEN_KERNELS: Readonly<KernelChoices> = Object.freeze({
  convInputGradient: 'flipped-conv',
  gram: 'transpose-matmul',
  maxPoolGradient: 'mask',
});

/** The tfjs backends the engine runs on (`tf.getBackend()`; native TensorFlow is `tensorflow`, GPU or not). */
export const KERNEL_BACKENDS = ['wasm', 'webgpu', 'cpu', 'tensorflow'] as const;
export type KernelBackend = (typeof KERNEL_BACKENDS)[number];

/**
 * The choice per backend. Each comment gives the command and its figures: medians in ms, tfjs default vs rewrite,
 * summed over the three layer shapes timed (which do equal conv work, as VGG19's blocks do); the lower total wins.
 * The Gram figures include its gradient, as a step computes both.
 */
export const KERNEL_CHOICES: Readonly<Record<KernelBackend, Readonly<KernelChoices>>> = Object.freeze({
  // `npm run bench:kernels` (2 threads, SIMD; 256²×64, 128²×128, 64²×256; medians of 5): conv input gradient
  // 4483.1 vs 375.5 (11.9× for flipped-conv), Gram 1350.9 vs 152.6 (8.9× for transpose-matmul), max-pool gradient
  // 201.3 vs 66.6 (3.0× for the mask).
  wasm: REWRITTEN_KERNELS,
  // `npm run bench:kernels -- --backend webgpu` on a SOFTWARE adapter, the only one here (llvmpipe, Mesa 25.0.7;
  // 64²×64, 32²×128, 16²×256; medians of 15): conv input gradient 633.5 vs 515.6 (1.23× for flipped-conv), Gram
  // 169.3 vs 117.2 (1.44× for transpose-matmul), max-pool gradient 22.5 vs 28.6 (1.27× for MaxPoolGrad). Three
  // earlier runs on the busy machine ordered each pair the same way (flipped-conv by 1.08-1.13×, transpose-matmul
  // by 1.3-1.6×, MaxPoolGrad by 1.09-1.7×). Taken from these until a hardware GPU is measured (bench/gpu): there,
  // note that tfjs-webgpu 4.22 runs a naive Conv2DBackpropInput shader (WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE) against
  // a tiled matmul conv2d.
  webgpu: { convInputGradient: 'flipped-conv', gram: 'transpose-matmul', maxPoolGradient: 'max-pool-grad' },
  // `npm run bench:kernels -- --backend cpu` (plain JS; 64²×64, 32²×128, 16²×256; medians of 15): conv input gradient
  // 880.5 vs 1216.9 (1.38× for backprop-input), Gram 471.2 vs 345.9 (1.36× for transpose-matmul), max-pool gradient
  // 118.6 vs 26.2 (4.5× for the mask).
  cpu: { convInputGradient: 'backprop-input', gram: 'transpose-matmul', maxPoolGradient: 'mask' },
  // Native TensorFlow (tfjs-node, -gpu): unmeasured, since it cannot be installed on the machine that measures. It
  // keeps the rewrites the engine always used there; `npm run bench:kernels -- --backend tensorflow` where it loads
  // decides. (TensorFlow's own Conv2DBackpropInput, transposed matmul and MaxPoolGrad are tuned kernels, so the
  // defaults may well win there: to be measured, not assumed.)
  tensorflow: REWRITTEN_KERNELS,
});

/** The choices for a tfjs backend name; one not in the table (never measured) gets the rewrites, as native does. */
export function kernelChoicesFor(tfBackend: string): KernelChoices {
  return { ...((KERNEL_CHOICES as Record<string, KernelChoices>)[tfBackend] ?? REWRITTEN_KERNELS) };
}

/** The choices for the backend tensors are created on now. */
export function currentKernelChoices(): KernelChoices {
  return kernelChoicesFor(tf.getBackend());
}

/** Kernel flipped in H and W with in/out swapped: conv2d(dy, flipped) is the input gradient of conv2d(x, kernel). */
export function flipKernel(kernel: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.transpose<tf.Tensor4D>(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]));
}

/**
 * Input gradient of a stride-1 'same' conv2d(x, kernel) with x of `inputShape`, given dy (the output gradient).
 * `flipped-conv` needs `flipped` (flipKernel(kernel)).
 */
export function convInputGradient(
  dy: tf.Tensor4D,
  weights: { kernel: tf.Tensor4D; flipped?: tf.Tensor4D | undefined },
  inputShape: [number, number, number, number],
  variant: ConvInputGradient,
): tf.Tensor4D {
  if (variant === 'flipped-conv') {
    if (!weights.flipped) throw new Error('the flipped-conv input gradient needs the flipped kernel');
    return tf.conv2d(dy, weights.flipped, 1, 'same');
  }
  return tf.conv2dTranspose(dy, weights.kernel, inputShape, 1, 'same');
}

/**
 * Gradient of a 2×2/2 'valid' max pooling `output = maxPool(input)` of a ReLU output given dy. Odd last rows and
 * columns get zero. `mask` gives dy to every maximum of a window, MaxPoolGrad to one of them: they differ only at
 * ties, which in VGG19 occur only in windows of zeros, whose gradient the ReLU's own mask then removes. The input
 * must be ≥ 0 for another reason too: wasm's MaxPoolGrad (tfjs 4.22) starts each window's maximum at FLT_MIN, the
 * smallest positive float, so a window whose maximum is ≤ 0 loses its gradient, and with an empty output it writes
 * out of bounds (so an empty output is answered here without running any kernel).
 */
export function maxPoolGradient(
  dy: tf.Tensor4D,
  input: tf.Tensor4D,
  output: tf.Tensor4D,
  variant: MaxPoolGradient,
): tf.Tensor4D {
  if (dy.size === 0) return tf.zeros(input.shape);
  if (variant === 'max-pool-grad') {
    const attrs = { filterSize: [2, 2], strides: [2, 2], pad: 'valid' };
    return tf.engine().runKernel<tf.Tensor4D>(tf.MaxPoolGrad, { dy, input, output }, attrs);
  }
  return tf.tidy(() => {
    const [, h, w, c] = input.shape;
    const evenH = h - (h % 2);
    const evenW = w - (w % 2);
    const even = evenH === h && evenW === w;
    const spread = tf.image.resizeNearestNeighbor(dy, [evenH, evenW]);
    const maxima = tf.image.resizeNearestNeighbor(output, [evenH, evenW]);
    const window = even ? input : tf.slice(input, [0, 0, 0, 0], [1, evenH, evenW, c]);
    const dx = tf.mul<tf.Tensor4D>(tf.cast(tf.equal(window, maxima), 'float32'), spread);
    return even ? dx : padOddEdges(dx, h, w);
  });
}

/** Gradient of a 2×2/2 'valid' average pooling of an [1,h,w,c] input given dy (odd edges get zero). */
export function avgPoolGradient(dy: tf.Tensor4D, input: tf.Tensor4D): tf.Tensor4D {
  if (dy.size === 0) return tf.zeros(input.shape);
  return tf.tidy(() => {
    const [, h, w] = input.shape;
    const evenH = h - (h % 2);
    const evenW = w - (w % 2);
    const dx = tf.mul<tf.Tensor4D>(tf.image.resizeNearestNeighbor(dy, [evenH, evenW]), 0.25);
    return evenH === h && evenW === w ? dx : padOddEdges(dx, h, w);
  });
}

function padOddEdges(dx: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [, evenH, evenW] = dx.shape;
  return tf.pad(dx, [
    [0, 0],
    [0, h - evenH],
    [0, w - evenW],
    [0, 0],
  ]);
}
