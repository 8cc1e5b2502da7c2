// A whole image on the CPU (tiling.ts PlaneImage) and the backend: read back, uploaded, resized, converted to RGB in
// bands, and as a checkpoint stores it. At a tiled scale the image is too large for the backend to hold whole.
import * as tf from '@tensorflow/tfjs';
import { recolor, type RgbImage } from '../image/index.js';
import type { SavedTensor } from './checkpoint.js';
import type { PlaneImage } from './tiling.js';
import { fromVggSpace } from './vgg19.js';

/** Pixels converted to RGB at a time, in bands of rows: the conversion is per pixel, the bands change nothing. */
const BAND_PIXELS = 1 << 20;

/** A whole image held on the CPU (VGG space) → RGB bytes, with `content`'s colours put back when given. */
export async function planeToRgb(plane: PlaneImage, content: RgbImage | undefined): Promise<RgbImage> {
  const { width, height } = plane;
  const data = new Uint8Array(width * height * 3);
  const bandRows = Math.max(1, Math.floor(BAND_PIXELS / width));
  for (let y0 = 0; y0 < height; y0 += bandRows) {
    const rows = Math.min(bandRows, height - y0);
    const [from, to] = [y0 * width * 3, (y0 + rows) * width * 3];
    const rgb = tf.tidy(() => {
      let image = fromVggSpace(tf.tensor4d(plane.data.subarray(from, to), [1, rows, width, 3]));
      if (content)
        image = recolor(image, tf.tensor4d(Float32Array.from(content.data.subarray(from, to)), [1, rows, width, 3]));
      return tf.clipByValue(tf.round(image), 0, 255);
    });
    try {
      data.set(await rgb.data(), from);
    } finally {
      rgb.dispose();
    }
  }
  return { data, width, height };
}

/** A [1,H,W,3] tensor's values as an image on the CPU (a copy the caller may write to). */
export async function toPlane(x: tf.Tensor4D): Promise<PlaneImage> {
  const [, height, width, channels] = x.shape;
  return { data: new Float32Array(await x.data<'float32'>()), width, height, channels };
}

export function planeTensor(plane: PlaneImage): tf.Tensor4D {
  return tf.tensor4d(plane.data, [1, plane.height, plane.width, plane.channels]);
}

/** An image (a tensor, or a plane on the CPU) bilinearly resized to width × height, as a plane. */
export async function resizedPlane(
  source: tf.Tensor4D | PlaneImage,
  width: number,
  height: number,
): Promise<PlaneImage> {
  const resized = tf.tidy(() =>
    tf.image.resizeBilinear(source instanceof tf.Tensor ? source : planeTensor(source), [height, width]),
  );
  try {
    return await toPlane(resized);
  } finally {
    resized.dispose();
  }
}

/** As a checkpoint stores an image held on the CPU. */
export function savedPlane(plane: PlaneImage): SavedTensor {
  return { shape: [1, plane.height, plane.width, plane.channels], data: plane.data };
}

export function planeOf(saved: SavedTensor): PlaneImage {
  const [, height, width, channels] = saved.shape as [number, number, number, number];
  return { data: new Float32Array(saved.data), width, height, channels };
}
