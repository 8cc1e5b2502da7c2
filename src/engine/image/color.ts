// Luminance-only transfer (Gatys et al. 2016, "Preserving color in neural artistic style transfer"): transfer on
// luminance images, with the style's luminance matched to the content's mean and spread, then put the content's
// chroma (YIQ I and Q) back on the result.
import * as tf from '@tensorflow/tfjs';

/** RGB → YIQ (NTSC), rows are Y, I, Q. */
const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const det = a! * (e! * i! - f! * h!) - b! * (d! * i! - f! * g!) + c! * (d! * h! - e! * g!);
  return [
    [(e! * i! - f! * h!) / det, (c! * h! - b! * i!) / det, (b! * f! - c! * e!) / det],
    [(f! * g! - d! * i!) / det, (a! * i! - c! * g!) / det, (c! * d! - a! * f!) / det],
    [(d! * h! - e! * g!) / det, (b! * g! - a! * h!) / det, (a! * e! - b! * d!) / det],
  ];
}

const YIQ_TO_RGB = invert3(RGB_TO_YIQ);

/** Applies a 3×3 colour matrix to every pixel of [1,H,W,3]. */
function mixChannels(image: tf.Tensor4D, matrix: number[][]): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = image.shape;
    const flat = tf.reshape(image, [h * w, 3]);
    // pixel · matrixᵀ
    const transposed = tf.tensor2d(matrix.flat(), [3, 3]).transpose();
    return tf.reshape<tf.Rank.R4>(tf.matMul(flat, transposed), [1, h, w, 3]);
  });
}

/** [1,H,W,3] RGB → [1,H,W,1] luminance. */
export function luminance(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.slice<tf.Rank.R4, tf.Tensor4D>(mixChannels(rgb, RGB_TO_YIQ), [0, 0, 0, 0], [-1, -1, -1, 1]));
}

/** A grey RGB image whose three channels are the given luminance. */
export function greyFromLuminance(y: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.tile<tf.Tensor4D>(y, [1, 1, 1, 3]));
}

/** Shifts and scales a luminance image to the mean and standard deviation of another. */
export function matchLuminance(source: tf.Tensor4D, reference: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const s = tf.moments(source);
    const r = tf.moments(reference);
    const gain = tf.div(tf.sqrt(r.variance), tf.add(tf.sqrt(s.variance), 1e-6));
    return tf.add<tf.Tensor4D>(tf.mul(tf.sub(source, s.mean), gain), r.mean);
  });
}

/** Luminance of `generated` with the chroma (I, Q) of `content`; both RGB, same size. */
export function recolor(generated: tf.Tensor4D, content: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const yFromGenerated = luminance(generated);
    const contentYiq = mixChannels(content, RGB_TO_YIQ);
    const chroma = tf.slice(contentYiq, [0, 0, 0, 1], [-1, -1, -1, 2]);
    return mixChannels(tf.concat<tf.Tensor4D>([yFromGenerated, chroma], 3), YIQ_TO_RGB);
  });
}
