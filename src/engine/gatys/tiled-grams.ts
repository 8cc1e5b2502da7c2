// Gram matrices of an image too large for one forward pass: the image is cut into tiles with a margin, each tile's
// features are kept only over its core (the margin gives the convolutions their real neighbours), and the cores'
// products Fᵀ·F are summed. The result is the whole image's Gram, up to what lies beyond the margin.
import * as tf from '@tensorflow/tfjs';
import type { Pooling } from './params.js';
import { toVggSpace, type Vgg19 } from './vgg19.js';

/** Context around each core, in pixels: a multiple of relu5's stride (16) so cores fall on whole feature cells. */
const MARGIN = 32;
const ALIGN = 16;

/** Stride of a relu layer's features relative to the image: 'relu3_1' sits after two poolings. */
function strideOf(layer: string): number {
  const block = Number(/^relu(\d)_/.exec(layer)?.[1] ?? '1');
  return 2 ** (block - 1);
}

/**
 * Gram matrices (divided by C·H·W, as gram() in losses.ts) of an RGB image [1,H,W,3] for `layers`, a tile of at most
 * `tileSide` pixels a side at a time. The caller owns the returned tensors.
 */
export function tiledGrams(
  vgg: Vgg19,
  rgb: tf.Tensor4D,
  layers: string[],
  pooling: Pooling,
  tileSide: number,
): Map<string, tf.Tensor2D> {
  const [, height, width] = rgb.shape;
  const core = Math.max(ALIGN, Math.floor((tileSide - 2 * MARGIN) / ALIGN) * ALIGN);
  const sums = new Map<string, tf.Tensor2D>();
  const cells = new Map<string, number>();
  try {
    for (let cy = 0; cy < height; cy += core) {
      for (let cx = 0; cx < width; cx += core) {
        const y0 = Math.max(0, cy - MARGIN);
        const x0 = Math.max(0, cx - MARGIN);
        const y1 = Math.min(height, cy + core + MARGIN);
        const x1 = Math.min(width, cx + core + MARGIN);
        tf.tidy(() => {
          const tile = tf.slice<tf.Rank.R4, tf.Tensor4D>(rgb, [0, y0, x0, 0], [1, y1 - y0, x1 - x0, 3]);
          const features = vgg.features(toVggSpace(tile), layers, pooling);
          for (const layer of layers) {
            const f = features.get(layer)!;
            const [, fh, fw, c] = f.shape;
            const s = strideOf(layer);
            // The core in this layer's cells; the image's last row and column fall to the tile that reaches them.
            const top = Math.floor((cy - y0) / s);
            const left = Math.floor((cx - x0) / s);
            const bottom = cy + core >= height ? fh : Math.min(fh, Math.floor((cy + core - y0) / s));
            const right = cx + core >= width ? fw : Math.min(fw, Math.floor((cx + core - x0) / s));
            if (bottom <= top || right <= left) continue;
            const kept = tf.slice(f, [0, top, left, 0], [1, bottom - top, right - left, c]);
            const flat = tf.reshape<tf.Rank.R2>(kept, [(bottom - top) * (right - left), c]);
            const product = tf.matMul<tf.Tensor2D>(flat, flat, true, false);
            const previous = sums.get(layer);
            sums.set(layer, tf.keep(previous ? tf.add<tf.Tensor2D>(previous, product) : product));
            previous?.dispose();
            cells.set(layer, (cells.get(layer) ?? 0) + (bottom - top) * (right - left));
          }
        });
      }
    }
    return new Map(
      layers.map((layer) => {
        const sum = sums.get(layer)!;
        const channels = sum.shape[0];
        return [layer, tf.tidy(() => tf.mul<tf.Tensor2D>(sum, 1 / (cells.get(layer)! * channels)))];
      }),
    );
  } finally {
    sums.forEach((t) => t.dispose());
  }
}
