// Layers shared by the two fast-style networks, and the load-time kernel rearrangements that let an upsampling layer
// run as one ordinary convolution at the low resolution followed by depthToSpace ("sub-pixel" form). On the wasm
// backend, Conv2DBackpropInput (what tf.conv2dTranspose runs) is a plain loop many times slower than XNNPACK's forward
// convolution, and a nearest-neighbour upsample makes the next convolution work on a tensor four times larger.
import * as tf from '@tensorflow/tfjs';
import type { InstanceNormHook, NormStatistics } from './types.js';

/**
 * Instance norm over H and W of a [1,H,W,C] tensor: scale·(x−μ)/√(σ²+eps) + shift, optionally followed by ReLU.
 * On wasm, tf.moments over H and W transposes the whole tensor first and batchNorm is a scalar loop; a full-window
 * average pool (XNNPACK) gives the same statistics, and the affine + ReLU is one fused 1×1 depthwise convolution with a
 * per-call filter (the backend drops its cached operator when that filter is disposed). `statistics`, when given,
 * replaces x's own mean and variance.
 */
export function instanceNorm(
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  shift: tf.Tensor1D,
  eps: number,
  relu: boolean,
  statistics?: NormStatistics,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c] = x.shape;
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (statistics) {
      // Given from outside (a tile normalised with the whole image's statistics).
      ({ mean, variance } = statistics);
    } else {
      mean = tf.avgPool(x, [h, w], 1, 'valid');
      variance = tf.avgPool(tf.squaredDifference<tf.Tensor4D>(x, mean), [h, w], 1, 'valid');
    }
    const gain = tf.mul(tf.rsqrt(tf.add(tf.reshape(variance, [c]), eps)), scale);
    const bias = tf.sub(shift, tf.mul(tf.reshape(mean, [c]), gain));
    return tf.fused.depthwiseConv2d({
      x,
      filter: tf.reshape<tf.Rank.R4>(gain, [1, 1, c, 1]),
      strides: 1,
      pad: 'valid',
      bias,
      activation: relu ? 'relu' : 'linear',
    });
  });
}

/**
 * Instance norm `index` of a pass that may carry a hook: shows the hook x (observe), then normalises x with the
 * hook's statistics or, without them, x's own.
 */
export function hookedInstanceNorm(
  hook: InstanceNormHook | undefined,
  index: number,
  scale: number,
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  eps: number,
  relu: boolean,
): tf.Tensor4D {
  if (!hook) return instanceNorm(x, gamma, beta, eps, relu);
  hook.observe?.(index, x, scale);
  return instanceNorm(x, gamma, beta, eps, relu, hook.statistics?.(index));
}

/**
 * [1,H,W,4C] with phase (py, px) of channel c at (py·2 + px)·C + c → [1,2H,2W,C]; tf.depthToSpace, but fast on wasm.
 */
export function phasesToSpace(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w, c4] = x.shape;
    const c = c4 / 4;
    // [H, W, py, (px, c)] → [H, py, W, (px, c)]: one 4-D transpose; (px, c) stays a contiguous block of 2C.
    return tf.reshape<tf.Rank.R4>(tf.transpose(tf.reshape(x, [h, w, 2, 2 * c]), [0, 2, 1, 3]), [1, 2 * h, 2 * w, c]);
  });
}

/** Replicates the last row and column until the image is at least minHeight × minWidth. */
export function edgePadTo(x: tf.Tensor4D, minHeight: number, minWidth: number): tf.Tensor4D {
  return tf.tidy(() => {
    let y = x;
    const [, h, w] = y.shape;
    if (h < minHeight)
      y = tf.concat([y, tf.tile(tf.slice(y, [0, h - 1, 0, 0], [-1, 1, -1, -1]), [1, minHeight - h, 1, 1])], 1);
    if (w < minWidth)
      y = tf.concat([y, tf.tile(tf.slice(y, [0, 0, w - 1, 0], [-1, -1, 1, -1]), [1, 1, minWidth - w, 1])], 2);
    return y === x ? tf.clone(x) : y;
  });
}

/** The top-left height × width of x (x itself, cloned, when it is that size already). */
export function cropTo(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === height && w === width) return tf.clone(x);
  return tf.slice(x, [0, 0, 0, 0], [1, height, width, -1]);
}

/** Reorders ncnn/PyTorch [out][in][kh][kw] weights to TF.js [kh][kw][in][out]. */
export function oihwToHwio(weights: Float32Array, out: number, inputs: number, k: number): Float32Array {
  const hwio = new Float32Array(weights.length);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inputs; i++) {
      for (let y = 0; y < k; y++) {
        for (let x = 0; x < k; x++)
          hwio[((y * k + x) * inputs + i) * out + o] = weights[((o * inputs + i) * k + y) * k + x]!;
      }
    }
  }
  return hwio;
}

/** A kernel that computes all four output phases of a ×2 upsampling layer at the input resolution. */
export interface SubpixelKernel {
  /** [K, K, in, 4·out]; output channel (py·2 + px)·out + o is phase (py, px) of channel o. */
  filter: Float32Array;
  size: number;
  inputs: number;
  outputs: number;
  /** Zero padding before and after each spatial axis of the low-resolution input. */
  padBefore: number;
  padAfter: number;
}

/** Output offsets d (in input pixels) and kernel taps t feeding each of the two phases along one axis. */
type PhaseTaps = { d: number; t: number[] }[][];

function buildSubpixel(
  taps: PhaseTaps,
  weightAt: (ty: number[], tx: number[], i: number, o: number) => number,
  inputs: number,
  outputs: number,
): SubpixelKernel {
  const offsets = taps.flatMap((phase) => phase.map((tap) => tap.d));
  const dmin = Math.min(...offsets);
  const dmax = Math.max(...offsets);
  const size = dmax - dmin + 1;
  const filter = new Float32Array(size * size * inputs * 4 * outputs);
  for (let py = 0; py < 2; py++) {
    for (let px = 0; px < 2; px++) {
      for (const ty of taps[py]!) {
        for (const tx of taps[px]!) {
          const a = ty.d - dmin;
          const b = tx.d - dmin;
          for (let i = 0; i < inputs; i++) {
            const row = ((a * size + b) * inputs + i) * 4 * outputs + (py * 2 + px) * outputs;
            for (let o = 0; o < outputs; o++) filter[row + o] = filter[row + o]! + weightAt(ty.t, tx.t, i, o);
          }
        }
      }
    }
  }
  return { filter, size, inputs, outputs, padBefore: -dmin, padAfter: dmax };
}

/**
 * tf.conv2dTranspose(x, w, [2H, 2W, out], 2, 'same') as a forward convolution. w is TF's [k, k, out, in].
 * The transposed conv writes input pixel j through tap t to output 2j + t − padTop (padTop = ⌊(k−2)/2⌋, what 'same'
 * gives for stride 2), so output 2m + p gathers input m + (p + padTop − t)/2 over the taps t of p's parity.
 */
export function transposedConvAsSubpixel(w: Float32Array, k: number, outputs: number, inputs: number): SubpixelKernel {
  const padTop = Math.floor(Math.max(k - 2, 0) / 2);
  const taps: PhaseTaps = [0, 1].map((p) => {
    const byOffset = new Map<number, number[]>();
    for (let t = 0; t < k; t++) {
      if ((p + padTop - t) % 2 !== 0) continue;
      const d = (p + padTop - t) / 2;
      byOffset.set(d, [...(byOffset.get(d) ?? []), t]);
    }
    return [...byOffset].map(([d, t]) => ({ d, t }));
  });
  // Each (phase, offset) pair has exactly one tap here; the sum form is shared with the upsample case.
  const at = (ty: number[], tx: number[], i: number, o: number) => {
    let sum = 0;
    for (const y of ty) for (const x of tx) sum += w[((y * k + x) * outputs + o) * inputs + i]!;
    return sum;
  };
  return buildSubpixel(taps, at, inputs, outputs);
}

/**
 * Nearest ×2 upsample, reflect pad 1, 3×3 conv (PyTorch's UpsampleConvLayer) as one convolution at the low
 * resolution. Along one axis the upsampled row 2m + p reads up[2m+p−1], up[2m+p], up[2m+p+1], which are input rows
 * m−1, m, m (p = 0) or m, m, m+1 (p = 1); at the borders reflect padding of the upsampled image reads the edge row
 * again, which is edge (replicate) padding of the input by one: `edgePad1` before the convolution.
 * w is TF's [3, 3, in, out].
 */
export function upsampleConvAsSubpixel(w: Float32Array, inputs: number, outputs: number): SubpixelKernel {
  const taps: PhaseTaps = [
    [
      { d: -1, t: [0] },
      { d: 0, t: [1, 2] },
    ],
    [
      { d: 0, t: [0, 1] },
      { d: 1, t: [2] },
    ],
  ];
  const at = (ty: number[], tx: number[], i: number, o: number) => {
    let sum = 0;
    for (const y of ty) for (const x of tx) sum += w[((y * 3 + x) * inputs + i) * outputs + o]!;
    return sum;
  };
  const kernel = buildSubpixel(taps, at, inputs, outputs);
  // The padding is edge replication (applied by the caller), not the conv's zero padding.
  return { ...kernel, padBefore: 0, padAfter: 0 };
}

/** One pixel of edge replication on each side (a 1-pixel 'symmetric' mirror pad is exactly that). */
export function edgePad1(x: tf.Tensor4D): tf.Tensor4D {
  return tf.mirrorPad(
    x,
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    'symmetric',
  );
}

/** Runs a sub-pixel kernel: a valid convolution of the (zero-padded) input, then the phases into space. */
export function subpixelConv(x: tf.Tensor4D, filter: tf.Tensor4D, kernel: SubpixelKernel): tf.Tensor4D {
  return tf.tidy(() => {
    const p = [kernel.padBefore, kernel.padAfter] as [number, number];
    const pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] =
      kernel.padBefore === 0 && kernel.padAfter === 0 ? 'valid' : [[0, 0], p, p, [0, 0]];
    const y = tf.conv2d(x, filter, 1, pad);
    return phasesToSpace(y);
  });
}

/**
 * A stride-1 k×k convolution (k odd) over an already padded image, computed on the image's 2×2 phases: one
 * (⌊k/2⌋+1)² convolution from 4·in to 4·out channels at half the resolution. It does about 25 % more multiply-adds
 * than the direct form but keeps XNNPACK's GEMM busy when `out` is tiny (the 3-channel RGB output layer runs at
 * about a third of its usual rate directly). Output 2m+a gathers padded pixels 2(m+e)+φ through tap t = 2e+φ−a.
 * w is TF's [k, k, in, out].
 */
export function convAsPhases(w: Float32Array, k: number, inputs: number, outputs: number): SubpixelKernel {
  const size = Math.floor(k / 2) + 1;
  const filter = new Float32Array(size * size * 4 * inputs * 4 * outputs);
  const tap = (e: number, phase: number, a: number) => 2 * e + phase - a;
  for (let ey = 0; ey < size; ey++) {
    for (let ex = 0; ex < size; ex++) {
      for (let fy = 0; fy < 2; fy++) {
        for (let fx = 0; fx < 2; fx++) {
          for (let a = 0; a < 2; a++) {
            for (let b = 0; b < 2; b++) {
              const ty = tap(ey, fy, a);
              const tx = tap(ex, fx, b);
              if (ty < 0 || ty >= k || tx < 0 || tx >= k) continue;
              for (let c = 0; c < inputs; c++) {
                const row =
                  ((ey * size + ex) * 4 * inputs + (fy * 2 + fx) * inputs + c) * 4 * outputs + (a * 2 + b) * outputs;
                for (let o = 0; o < outputs; o++) filter[row + o] = w[((ty * k + tx) * inputs + c) * outputs + o]!;
              }
            }
          }
        }
      }
    }
  }
  return { filter, size, inputs: 4 * inputs, outputs, padBefore: 0, padAfter: 0 };
}

/** [1,2H,2W,C] → [1,H,W,4C], channel (φy·2 + φx)·C + c: the inverse of phasesToSpace. */
export function spaceToPhases(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h2, w2, c] = x.shape;
    return tf.reshape<tf.Rank.R4>(tf.transpose(tf.reshape(x, [h2 / 2, 2, w2 / 2, 2 * c]), [0, 2, 1, 3]), [
      1,
      h2 / 2,
      w2 / 2,
      4 * c,
    ]);
  });
}

/**
 * Runs a convAsPhases kernel over x: 'valid' when zeroPad is 0 (x already padded), else x zero-padded by zeroPad
 * (even) on every side, as a 'same' convolution would. Returns exactly the direct convolution's output.
 */
export function phaseConv(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  kernel: SubpixelKernel,
  k: number,
  options: { zeroPad?: number; bias?: tf.Tensor1D } = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const zeroPad = options.zeroPad ?? 0;
    if (zeroPad % 2 !== 0) throw new Error('phaseConv pads by an even number of pixels');
    // Odd sizes get one zero row or column more at the end; the outputs it adds are cropped below.
    const even =
      h % 2 || w % 2
        ? tf.pad(x, [
            [0, 0],
            [0, h % 2],
            [0, w % 2],
            [0, 0],
          ])
        : x;
    const q = zeroPad / 2;
    const pad: 'valid' | [[number, number], [number, number], [number, number], [number, number]] = q
      ? [
          [0, 0],
          [q, q],
          [q, q],
          [0, 0],
        ]
      : 'valid';
    const phases = spaceToPhases(even);
    const y = options.bias
      ? tf.fused.conv2d({ x: phases, filter, strides: 1, pad, bias: tf.tile(options.bias, [4]) })
      : tf.conv2d(phases, filter, 1, pad);
    const out = phasesToSpace(y);
    return cropTo(out, h + 2 * zeroPad - k + 1, w + 2 * zeroPad - k + 1);
  });
}
