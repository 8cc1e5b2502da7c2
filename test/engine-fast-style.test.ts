// Fast-style networks on tiny generated models written in the real file formats (an ml5 checkpoint folder, an ncnn
// .param/.bin with fp16 weights), checked against an independent plain-JS implementation of each architecture;
// loader errors; tensor hygiene; the fastTransfer generator's parameters and events.
import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/engine/runtime/index.js';
import { EngineInputError, StyleModelError, TransferAbortedError, type TransferEvent } from '../src/engine/index.js';
import {
  detectModelFormat,
  fastTransfer,
  type FastTransferParams,
  loadStyleModel,
  type StyleModel,
  StyleModelCache,
  type StyleModelSource,
} from '../src/engine/fast-style/index.js';
import { drain } from './helpers/events.js';

// ---------------------------------------------------------------------------------------------------------------
// Plain-JS reference: HWC float64 images and naive loops, written from the architectures' descriptions.

interface Img {
  h: number;
  w: number;
  c: number;
  d: Float64Array;
}

const img = (h: number, w: number, c: number): Img => ({ h, w, c, d: new Float64Array(h * w * c) });
const at = (x: Img, y: number, i: number, k: number) => x.d[(y * x.w + i) * x.c + k]!;

/** Zero-padded convolution; kernel in TF layout [kh][kw][in][out]. */
function conv(
  x: Img,
  k: Float64Array,
  size: number,
  out: number,
  stride: number,
  outH: number,
  outW: number,
  padTop: number,
  padLeft: number,
  bias?: Float64Array,
): Img {
  const y = img(outH, outW, out);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let o = 0; o < out; o++) {
        let sum = bias ? bias[o]! : 0;
        for (let i = 0; i < size; i++) {
          const iy = oy * stride + i - padTop;
          if (iy < 0 || iy >= x.h) continue;
          for (let j = 0; j < size; j++) {
            const ix = ox * stride + j - padLeft;
            if (ix < 0 || ix >= x.w) continue;
            for (let c = 0; c < x.c; c++) sum += k[((i * size + j) * x.c + c) * out + o]! * at(x, iy, ix, c);
          }
        }
        y.d[(oy * outW + ox) * out + o] = sum;
      }
    }
  }
  return y;
}

/** TensorFlow 'same' convolution. */
function convSame(x: Img, k: Float64Array, size: number, out: number, stride: number): Img {
  const outH = Math.ceil(x.h / stride);
  const outW = Math.ceil(x.w / stride);
  const padH = Math.max((outH - 1) * stride + size - x.h, 0);
  const padW = Math.max((outW - 1) * stride + size - x.w, 0);
  return conv(x, k, size, out, stride, outH, outW, Math.floor(padH / 2), Math.floor(padW / 2));
}

/** tf.conv2dTranspose(x, k, [2H, 2W, out], 2, 'same') by scattering; kernel [kh][kw][out][in]. */
function convTransposeSame(x: Img, k: Float64Array, size: number, out: number): Img {
  const y = img(2 * x.h, 2 * x.w, out);
  const padTop = Math.floor(Math.max((x.h - 1) * 2 + size - 2 * x.h, 0) / 2);
  const padLeft = Math.floor(Math.max((x.w - 1) * 2 + size - 2 * x.w, 0) / 2);
  for (let m = 0; m < x.h; m++) {
    for (let n = 0; n < x.w; n++) {
      for (let i = 0; i < size; i++) {
        const oy = m * 2 + i - padTop;
        if (oy < 0 || oy >= y.h) continue;
        for (let j = 0; j < size; j++) {
          const ox = n * 2 + j - padLeft;
          if (ox < 0 || ox >= y.w) continue;
          for (let o = 0; o < out; o++) {
            let sum = 0;
            for (let c = 0; c < x.c; c++) sum += k[((i * size + j) * out + o) * x.c + c]! * at(x, m, n, c);
            y.d[(oy * y.w + ox) * out + o] = y.d[(oy * y.w + ox) * out + o]! + sum;
          }
        }
      }
    }
  }
  return y;
}

function map(x: Img, f: (v: number, k: number) => number): Img {
  const y = img(x.h, x.w, x.c);
  for (let i = 0; i < x.d.length; i++) y.d[i] = f(x.d[i]!, i % x.c);
  return y;
}

function instanceNorm(x: Img, scale: Float64Array, shift: Float64Array, eps: number): Img {
  const n = x.h * x.w;
  const mean = new Float64Array(x.c);
  const variance = new Float64Array(x.c);
  for (let i = 0; i < x.d.length; i++) mean[i % x.c] = mean[i % x.c]! + x.d[i]! / n;
  for (let i = 0; i < x.d.length; i++) variance[i % x.c] = variance[i % x.c]! + (x.d[i]! - mean[i % x.c]!) ** 2 / n;
  return map(x, (v, k) => (scale[k]! * (v - mean[k]!)) / Math.sqrt(variance[k]! + eps) + shift[k]!);
}

const relu = (x: Img) => map(x, (v) => Math.max(v, 0));
const add = (a: Img, b: Img): Img => ({ ...a, d: a.d.map((v, i) => v + b.d[i]!) });

function crop(x: Img, h: number, w: number): Img {
  const y = img(h, w, x.c);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++) for (let k = 0; k < x.c; k++) y.d[(i * w + j) * x.c + k] = at(x, i, j, k);
  return y;
}

/** Reflect padding (PyTorch ReflectionPad2d / ncnn Padding type 2). */
function reflectPad(x: Img, p: number): Img {
  const y = img(x.h + 2 * p, x.w + 2 * p, x.c);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  for (let i = 0; i < y.h; i++) {
    for (let j = 0; j < y.w; j++) {
      for (let k = 0; k < x.c; k++) y.d[(i * y.w + j) * x.c + k] = at(x, reflect(i - p, x.h), reflect(j - p, x.w), k);
    }
  }
  return y;
}

/** Replicates the last row and column up to a minimum size. */
function edgePad(x: Img, minH: number, minW: number): Img {
  const y = img(Math.max(x.h, minH), Math.max(x.w, minW), x.c);
  for (let i = 0; i < y.h; i++)
    for (let j = 0; j < y.w; j++)
      for (let k = 0; k < x.c; k++) y.d[(i * y.w + j) * x.c + k] = at(x, Math.min(i, x.h - 1), Math.min(j, x.w - 1), k);
  return y;
}

function upsampleNearest2(x: Img): Img {
  const y = img(2 * x.h, 2 * x.w, x.c);
  for (let i = 0; i < y.h; i++)
    for (let j = 0; j < y.w; j++) for (let k = 0; k < x.c; k++) y.d[(i * y.w + j) * x.c + k] = at(x, i >> 1, j >> 1, k);
  return y;
}

// ---------------------------------------------------------------------------------------------------------------
// Tiny models in the real file formats

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Tiny Engstrom widths: conv1, conv2, conv3 (residual width), up1, up2. */
const ENG = { c1: 4, c2: 5, c3: 6, u1: 5, u2: 4 };

interface EngstromTiny {
  folder: string;
  vars: Map<number, { shape: number[]; data: Float64Array }>;
}

/** Writes an ml5/deeplearn.js checkpoint folder: manifest.json + raw float32 Variable files. */
async function writeEngstromCheckpoint(folder: string, seed: number): Promise<EngstromTiny> {
  const random = rng(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * random();
  const vars = new Map<number, { shape: number[]; data: Float64Array }>();
  const layer = (id: number, shape: number[], out: number, normScale: [number, number] = [0.5, 1.5]) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const fanIn = count / out;
    vars.set(id, { shape, data: Float64Array.from({ length: count }, () => uniform(-1, 1) / Math.sqrt(fanIn)) });
    vars.set(id + 1, { shape: [out], data: Float64Array.from({ length: out }, () => uniform(-0.3, 0.3)) }); // shift
    vars.set(id + 2, { shape: [out], data: Float64Array.from({ length: out }, () => uniform(...normScale)) }); // scale
  };
  layer(0, [9, 9, 3, ENG.c1], ENG.c1);
  layer(3, [3, 3, ENG.c1, ENG.c2], ENG.c2);
  layer(6, [3, 3, ENG.c2, ENG.c3], ENG.c3);
  for (const id of [9, 15, 21, 27, 33]) {
    layer(id, [3, 3, ENG.c3, ENG.c3], ENG.c3);
    layer(id + 3, [3, 3, ENG.c3, ENG.c3], ENG.c3);
  }
  layer(39, [3, 3, ENG.u1, ENG.c3], ENG.u1); // conv2dTranspose kernels are [h, w, out, in]
  layer(42, [3, 3, ENG.u2, ENG.u1], ENG.u2);
  layer(45, [9, 9, ENG.u2, 3], 3, [0.3, 0.6]); // keep tanh out of saturation
  await mkdir(folder, { recursive: true });
  const manifest: Record<string, { filename: string; shape: number[] }> = {};
  for (const [id, v] of vars) {
    const name = id === 0 ? 'Variable' : `Variable_${id}`;
    manifest[name] = { filename: name, shape: v.shape };
    const f32 = Float32Array.from(v.data);
    v.data = Float64Array.from(f32); // the reference uses exactly the stored values
    await writeFile(path.join(folder, name), new Uint8Array(f32.buffer));
  }
  await writeFile(path.join(folder, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { folder, vars };
}

function engstromReference(x: Img, model: EngstromTiny): Img {
  const v = (id: number) => model.vars.get(id)!;
  const k = (id: number) => v(id).shape[0]!;
  const convLayer = (input: Img, id: number, stride: number, withRelu: boolean) => {
    const y = instanceNorm(
      convSame(input, v(id).data, k(id), v(id).shape[3]!, stride),
      v(id + 2).data,
      v(id + 1).data,
      1e-3,
    );
    return withRelu ? relu(y) : y;
  };
  let y = convLayer(x, 0, 1, true);
  y = convLayer(y, 3, 2, true);
  y = convLayer(y, 6, 2, true);
  for (const id of [9, 15, 21, 27, 33]) y = add(convLayer(convLayer(y, id, 1, true), id + 3, 1, false), y);
  for (const id of [39, 42])
    y = relu(
      instanceNorm(convTransposeSame(y, v(id).data, k(id), v(id).shape[2]!), v(id + 2).data, v(id + 1).data, 1e-3),
    );
  y = convLayer(y, 45, 1, false);
  return crop(
    map(y, (t) => Math.min(255, Math.max(0, Math.tanh(t) * 150 + 127.5))),
    x.h,
    x.w,
  );
}

/** Tiny PyTorch widths: conv1, conv2, conv3 (residual width), up1, up2. */
const PT = { c1: 4, c2: 5, c3: 6, u1: 5, u2: 4 };
const FP16_TAG = 0x01306b47;

/** float → IEEE half bits (round to nearest even; the test's own encoder, independent of the loader). */
function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  let mantissa = bits & 0x7fffff;
  if (exponent <= 0) return sign; // tiny weights flush to zero; the reference decodes the same bits
  if (exponent >= 31) return sign | 0x7c00;
  let half = sign | (exponent << 10) | (mantissa >> 13);
  mantissa &= 0x1fff;
  if (mantissa > 0x1000 || (mantissa === 0x1000 && half & 1)) half += 1;
  return half;
}

function fromHalf(h: number): number {
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

interface TorchConv {
  k: number;
  stride: number;
  inputs: number;
  outputs: number;
  /** [out][in][kh][kw], values as the fp16 file holds them. */
  w: Float64Array;
  b: Float64Array;
  gamma?: Float64Array;
  beta?: Float64Array;
}

interface PytorchTiny {
  param: string;
  convs: TorchConv[];
}

/**
 * Writes a TransformerNet as onnx2ncnn + ncnnoptimize do: the .param graph (Padding / Convolution / InstanceNorm /
 * ReLU / Split / BinaryOp / Interp, same layer order and parameters as the real files) and the .bin (per conv: fp16
 * tag, fp16 OIHW weights, float32 biases; per norm: float32 gamma then beta).
 */
async function writePytorchNcnn(file: string, seed: number): Promise<PytorchTiny> {
  const random = rng(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * random();
  const lines: string[] = [];
  const bin: Buffer[] = [];
  const convs: TorchConv[] = [];
  let blobs = 0;
  let blob = 'input1';
  const blobNames = new Set([blob]);
  const emit = (type: string, name: string, bottoms: string[], tops: string[], params: string) => {
    tops.forEach((t) => blobNames.add(t));
    lines.push(
      `${type.padEnd(24)} ${name.padEnd(24)} ${bottoms.length} ${tops.length} ${[...bottoms, ...tops].join(' ')}` +
        (params ? ` ${params}` : ''),
    );
  };
  const next = () => `b${++blobs}`;
  lines.push('Input                    input1                   0 1 input1');
  let channels = 3;
  const convLayer = (
    k: number,
    stride: number,
    out: number,
    opts: { upsample?: boolean; norm: boolean; relu: boolean; last?: boolean; source?: string },
  ) => {
    if (opts.upsample) {
      const top = next();
      emit('Interp', `up${blobs}`, [blob], [top], '0=1 1=2.000000e+00 2=2.000000e+00');
      blob = top;
    }
    const p = Math.floor(k / 2);
    let top = next();
    emit('Padding', `pad${blobs}`, [opts.source ?? blob], [top], `0=${p} 1=${p} 2=${p} 3=${p} 4=2`);
    blob = top;
    const count = out * channels * k * k;
    const halves = Uint16Array.from({ length: count }, () =>
      toHalf((opts.last ? uniform(-2, 2) : uniform(-1, 1)) / Math.sqrt(channels * k * k)),
    );
    const bias = Float32Array.from({ length: out }, () => (opts.last ? 127 + uniform(-20, 20) : uniform(-0.5, 0.5)));
    const layer: TorchConv = {
      k,
      stride,
      inputs: channels,
      outputs: out,
      w: Float64Array.from(halves, fromHalf),
      b: Float64Array.from(bias),
    };
    const tag = Buffer.alloc(4);
    tag.writeUInt32LE(FP16_TAG);
    const weightBytes = Buffer.alloc(Math.ceil((count * 2) / 4) * 4);
    halves.forEach((h, i) => weightBytes.writeUInt16LE(h, i * 2));
    bin.push(tag, weightBytes, Buffer.from(bias.buffer));
    top = next();
    emit(
      'Convolution',
      `conv${blobs}`,
      [blob],
      [top],
      `0=${out} 1=${k}${stride > 1 ? ` 3=${stride}` : ''} 5=1 6=${count}`,
    );
    blob = top;
    if (opts.norm) {
      const gamma = Float32Array.from({ length: out }, () => uniform(0.5, 1.5));
      const beta = Float32Array.from({ length: out }, () => uniform(-0.3, 0.3));
      layer.gamma = Float64Array.from(gamma);
      layer.beta = Float64Array.from(beta);
      bin.push(Buffer.from(gamma.buffer), Buffer.from(beta.buffer));
      top = next();
      emit('InstanceNorm', `in${blobs}`, [blob], [top], `0=${out} 1=1.000000e-05`);
      blob = top;
    }
    if (opts.relu) {
      top = next();
      emit('ReLU', `relu${blobs}`, [blob], [top], '');
      blob = top;
    }
    channels = out;
    convs.push(layer);
  };
  convLayer(9, 1, PT.c1, { norm: true, relu: true });
  convLayer(3, 2, PT.c2, { norm: true, relu: true });
  convLayer(3, 2, PT.c3, { norm: true, relu: true });
  for (let i = 0; i < 5; i++) {
    const skip = [`${blob}_splitncnn_0`, `${blob}_splitncnn_1`];
    emit('Split', `splitncnn_${i}`, [blob], skip, '');
    blob = skip[1]!;
    convLayer(3, 1, PT.c3, { norm: true, relu: true });
    convLayer(3, 1, PT.c3, { norm: true, relu: false });
    const top = next();
    emit('BinaryOp', `add${blobs}`, [blob, skip[0]!], [top], '');
    blob = top;
  }
  convLayer(3, 1, PT.u1, { upsample: true, norm: true, relu: true });
  convLayer(3, 1, PT.u2, { upsample: true, norm: true, relu: true });
  convLayer(9, 1, 3, { norm: false, relu: false, last: true });
  const text = ['7767517', `${lines.length} ${blobNames.size}`, ...lines, ''].join('\n');
  await writeFile(file, text);
  await writeFile(file.replace(/\.param$/, '.bin'), Buffer.concat(bin));
  return { param: file, convs };
}

/** conv with bias over a reflect-padded input, weights [out][in][kh][kw] as PyTorch holds them. */
function torchConv(x: Img, layer: TorchConv): Img {
  const padded = reflectPad(x, Math.floor(layer.k / 2));
  const outH = Math.floor((padded.h - layer.k) / layer.stride) + 1;
  const outW = Math.floor((padded.w - layer.k) / layer.stride) + 1;
  const y = img(outH, outW, layer.outputs);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let o = 0; o < layer.outputs; o++) {
        let sum = layer.b[o]!;
        for (let c = 0; c < layer.inputs; c++) {
          for (let i = 0; i < layer.k; i++) {
            for (let j = 0; j < layer.k; j++)
              sum +=
                layer.w[((o * layer.inputs + c) * layer.k + i) * layer.k + j]! *
                at(padded, oy * layer.stride + i, ox * layer.stride + j, c);
          }
        }
        y.d[(oy * outW + ox) * layer.outputs + o] = sum;
      }
    }
  }
  return y;
}

function pytorchReference(input: Img, model: PytorchTiny): Img {
  const x = edgePad(input, 5, 5); // the smallest side the reflect pads allow, as the engine does
  const c = model.convs;
  const block = (y: Img, i: number, withRelu: boolean, upsample = false) => {
    const z = instanceNorm(torchConv(upsample ? upsampleNearest2(y) : y, c[i]!), c[i]!.gamma!, c[i]!.beta!, 1e-5);
    return withRelu ? relu(z) : z;
  };
  let y = block(x, 0, true);
  y = block(y, 1, true);
  y = block(y, 2, true);
  for (let r = 0; r < 5; r++) y = add(block(block(y, 3 + 2 * r, true), 4 + 2 * r, false), y);
  y = block(y, 13, true, true);
  y = block(y, 14, true, true);
  y = torchConv(y, c[15]!);
  return crop(
    map(y, (v) => Math.min(255, Math.max(0, v))),
    input.h,
    input.w,
  );
}

// ---------------------------------------------------------------------------------------------------------------

let dir: string;
let engstrom: EngstromTiny;
let pytorch: PytorchTiny;
const engstromSource = (): StyleModelSource => ({
  architecture: 'engstrom',
  format: 'ml5-checkpoint',
  path: engstrom.folder,
});
const pytorchSource = (): StyleModelSource => ({ architecture: 'pytorch', format: 'ncnn', path: pytorch.param });

function randomImage(h: number, w: number, seed: number): Img {
  const random = rng(seed);
  const x = img(h, w, 3);
  for (let i = 0; i < x.d.length; i++) x.d[i] = Math.round(random() * 255);
  return x;
}

function run(model: StyleModel, x: Img): Img {
  const input = tf.tensor4d(Float32Array.from(x.d), [1, x.h, x.w, 3]);
  const output = model.stylize(input);
  input.dispose();
  expect(output.shape).toEqual([1, x.h, x.w, 3]);
  const out = { h: x.h, w: x.w, c: 3, d: Float64Array.from(output.dataSync()) };
  output.dispose();
  return out;
}

function maxAbsDiff(a: Img, b: Img): number {
  let worst = 0;
  for (let i = 0; i < a.d.length; i++) worst = Math.max(worst, Math.abs(a.d[i]! - b.d[i]!));
  return worst;
}

/** Most pixels strictly inside 0..255, so clamping cannot hide a difference. */
function unsaturated(x: Img): number {
  return x.d.filter((v) => v > 0.5 && v < 254.5).length / x.d.length;
}

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-fast-style-'));
  engstrom = await writeEngstromCheckpoint(path.join(dir, 'engstrom'), 1);
  pytorch = await writePytorchNcnn(path.join(dir, 'tiny.param'), 2);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Engstrom TransformNet (ml5 checkpoint)', () => {
  it('matches the plain-JS reference on an odd-sized input, with either upsampling path', async () => {
    const x = randomImage(7, 9, 3);
    const expected = engstromReference(x, engstrom);
    expect(unsaturated(expected)).toBeGreaterThan(0.9);
    for (const [transposed, finalConv] of [
      ['subpixel', 'phases'],
      ['native', 'direct'],
    ] as const) {
      const model = await loadStyleModel(engstromSource(), { transposed, finalConv });
      expect(model.channels).toEqual([ENG.c1, ENG.c2, ...Array<number>(11).fill(ENG.c3), ENG.u1, ENG.u2, 3]);
      expect(maxAbsDiff(run(model, x), expected), transposed).toBeLessThan(0.02);
      model.dispose();
    }
  });

  it('keeps any input size, down to 1×1', async () => {
    const model = await loadStyleModel(engstromSource());
    for (const [h, w] of [
      [1, 1],
      [2, 3],
      [4, 4],
      [5, 11],
      [16, 3],
    ] as const) {
      const x = randomImage(h, w, h * 31 + w);
      expect(maxAbsDiff(run(model, x), engstromReference(x, engstrom)), `${h}×${w}`).toBeLessThan(0.02);
    }
    model.dispose();
  });
});

describe('PyTorch TransformerNet (ncnn, fp16 weights)', () => {
  it('matches the plain-JS reference on an odd-sized input, with either upsampling path', async () => {
    const x = randomImage(7, 9, 4);
    const expected = pytorchReference(x, pytorch);
    expect(unsaturated(expected)).toBeGreaterThan(0.9);
    for (const [upsample, finalConv] of [
      ['subpixel', 'phases'],
      ['native', 'direct'],
    ] as const) {
      const model = await loadStyleModel(pytorchSource(), { upsample, finalConv });
      expect(model.channels).toEqual([PT.c1, PT.c2, ...Array<number>(11).fill(PT.c3), PT.u1, PT.u2, 3]);
      expect(maxAbsDiff(run(model, x), expected), upsample).toBeLessThan(0.02);
      model.dispose();
    }
  });

  it('keeps any input size: inputs too small for the reflect padding are edge-padded and cropped back', async () => {
    const model = await loadStyleModel(pytorchSource());
    for (const [h, w] of [
      [1, 1],
      [2, 3],
      [4, 4],
      [5, 11],
      [16, 3],
      [12, 12],
    ] as const) {
      const x = randomImage(h, w, h * 17 + w);
      expect(maxAbsDiff(run(model, x), pytorchReference(x, pytorch)), `${h}×${w}`).toBeLessThan(0.02);
    }
    model.dispose();
  });
});

describe('tensor hygiene', () => {
  it('frees every tensor of a pass, and every weight on dispose()', async () => {
    const baseline = tf.memory().numTensors;
    for (const source of [engstromSource(), pytorchSource()]) {
      const model = await loadStyleModel(source);
      const loaded = tf.memory().numTensors;
      expect(loaded).toBeGreaterThan(baseline);
      const x = tf.randomUniform<tf.Rank.R4>([1, 13, 10, 3], 0, 255);
      model.stylize(x).dispose();
      model.stylize(x).dispose();
      x.dispose();
      expect(tf.memory().numTensors).toBe(loaded);
      model.dispose();
      model.dispose(); // twice is harmless
      expect(tf.memory().numTensors).toBe(baseline);
      expect(() => model.stylize(x)).toThrow(StyleModelError);
    }
  });

  it('an interrupted pass throws TransferAbortedError and frees its tensors', async () => {
    const model = await loadStyleModel(pytorchSource());
    const x = tf.randomUniform<tf.Rank.R4>([1, 9, 9, 3], 0, 255);
    const before = tf.memory().numTensors;
    let calls = 0;
    expect(() => model.stylize(x, { interrupt: () => ++calls > 4 })).toThrow(TransferAbortedError);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('the worker cache keeps a few models and disposes what it evicts', async () => {
    const baseline = tf.memory().numTensors;
    const cache = new StyleModelCache(1);
    const zeros = tf.zeros<tf.Rank.R4>([1, 4, 4, 3]);
    const a = await cache.get(engstromSource());
    expect(await cache.get(engstromSource())).toBe(a);
    const b = await cache.get(pytorchSource());
    expect(cache.size).toBe(1);
    expect(() => a.stylize(zeros)).toThrow(StyleModelError); // evicted and disposed
    b.stylize(zeros).dispose();
    cache.clear();
    expect(() => b.stylize(zeros)).toThrow(StyleModelError);
    zeros.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('loading errors', () => {
  const expectModelError = async (promise: Promise<unknown>, pattern: RegExp) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StyleModelError);
    expect((error as StyleModelError).code).toBe('MODEL_INVALID');
    expect((error as Error).message).toMatch(pattern);
  };

  it('names the valid architectures, formats and pairs', async () => {
    await expectModelError(
      loadStyleModel({ architecture: 'johnson' as never, format: 'ncnn', path: pytorch.param }),
      /unknown architecture "johnson".*engstrom, pytorch/,
    );
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'onnx' as never, path: pytorch.param }),
      /unknown model format "onnx".*ml5-checkpoint, ncnn/,
    );
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ncnn', path: pytorch.param }),
      /does not come in the ncnn format.*engstrom \+ ml5-checkpoint, pytorch \+ ncnn/,
    );
    await expectModelError(loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: '' }), /path is empty/);
  });

  it('reports a truncated or oversized .bin', async () => {
    const param = path.join(dir, 'cut.param');
    await writePytorchNcnn(param, 5);
    const bin = param.replace(/\.param$/, '.bin');
    const full = await readFile(bin);
    await truncate(bin, full.byteLength - 10);
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: param }),
      /cut\.bin: truncated: the 3 biases of Convolution "conv\d+" \(\.param line \d+\) needs 12 bytes/,
    );
    await writeFile(bin, Buffer.concat([full, Buffer.alloc(8)]));
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: param }),
      /8 bytes more than the \.param describes/,
    );
    await unlink(bin);
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: param }),
      /cut\.bin: cannot read the weights.*ENOENT/,
    );
  });

  it('reports an ncnn graph that is not TransformerNet, with its line', async () => {
    const param = path.join(dir, 'graph.param');
    await writePytorchNcnn(param, 6);
    const text = await readFile(param, 'utf8');
    // Drop the first ReLU: the weights still fit, the layout does not.
    const lines = text.split('\n');
    const relu = lines.findIndex((l) => l.startsWith('ReLU'));
    const broken = lines.filter((_, i) => i !== relu);
    broken[1] = `${Number(broken[1]!.split(' ')[0]) - 1} ${broken[1]!.split(' ')[1]}`;
    await writeFile(param, broken.join('\n'));
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: param }),
      /not a PyTorch TransformerNet: at line \d+ \(Padding .*expected ReLU/,
    );
    await writeFile(param, text.replace('7767517', '1234'));
    await expectModelError(
      loadStyleModel({ architecture: 'pytorch', format: 'ncnn', path: param }),
      /not an ncnn \.param file/,
    );
  });

  it('reports a missing or short Variable file and wrong shapes', async () => {
    const folder = path.join(dir, 'broken-ckpt');
    await writeEngstromCheckpoint(folder, 7);
    await unlink(path.join(folder, 'Variable_12'));
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ml5-checkpoint', path: folder }),
      /Variable_12: variable "Variable_12" is listed in manifest\.json but its file cannot be read \(ENOENT\)/,
    );
    await writeFile(path.join(folder, 'Variable_12'), new Uint8Array(100));
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ml5-checkpoint', path: folder }),
      /needs \d+ bytes \(float32\), the file has 100 \(truncated\)/,
    );
    // A manifest whose shapes are consistent with the files but not with the architecture.
    const manifestFile = path.join(folder, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<
      string,
      { filename: string; shape: number[] }
    >;
    manifest.Variable_12 = { filename: 'Variable_12', shape: [5, 5] };
    await writeFile(path.join(folder, 'Variable_12'), new Uint8Array(100));
    await writeFile(manifestFile, JSON.stringify(manifest));
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ml5-checkpoint', path: folder }),
      /Variable_12 has shape \[5, 5\], expected \[k, k, 6, out\]/,
    );
    delete manifest.Variable_47;
    await writeFile(manifestFile, JSON.stringify(manifest));
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ml5-checkpoint', path: folder }),
      /not an Engstrom TransformNet checkpoint \(missing Variable_47\)/,
    );
    await expectModelError(
      loadStyleModel({ architecture: 'engstrom', format: 'ml5-checkpoint', path: path.join(dir, 'nowhere') }),
      /no readable manifest\.json/,
    );
  });

  it('detects the format from a path', () => {
    expect(detectModelFormat(engstrom.folder)).toEqual(engstromSource());
    expect(detectModelFormat(path.join(engstrom.folder, 'manifest.json'))).toEqual(engstromSource());
    expect(detectModelFormat(pytorch.param)).toEqual(pytorchSource());
    expect(detectModelFormat(pytorch.param.replace(/\.param$/, '.bin'))).toEqual(pytorchSource());
    expect(() => detectModelFormat(dir)).toThrow(/a folder without manifest\.json/);
    expect(() => detectModelFormat(path.join(engstrom.folder, 'Variable'))).toThrow(StyleModelError);
    expect(() => detectModelFormat(path.join(dir, 'missing.param'))).toThrow(/cannot be read \(ENOENT\)/);
  });
});

describe('fastTransfer', () => {
  let model: StyleModel;
  let content: Uint8Array;

  beforeAll(async () => {
    model = await loadStyleModel(pytorchSource());
    // A 40×30 gradient with colour, as a PNG.
    const data = Buffer.alloc(40 * 30 * 3);
    for (let y = 0; y < 30; y++) for (let x = 0; x < 40; x++) data.set([x * 6, y * 8, 200 - x * 3], (y * 40 + x) * 3);
    content = new Uint8Array(
      await sharp(data, { raw: { width: 40, height: 30, channels: 3 } })
        .png()
        .toBuffer(),
    );
  });

  afterAll(() => model.dispose());

  async function collect(
    params: Partial<FastTransferParams>,
    context: Partial<Parameters<typeof fastTransfer>[1]> = {},
  ): Promise<TransferEvent[]> {
    return drain(fastTransfer({ content, ...params }, { model, ...context }));
  }

  it('emits started, one step and done with a PNG at the requested size', async () => {
    const before = tf.memory().numTensors;
    const events = await collect({ size: 21 });
    expect(events.map((e) => e.type)).toEqual(['started', 'step', 'done']);
    expect(events[0]).toMatchObject({ type: 'started', width: 21, height: 16, totalSteps: 1, scaleSizes: [21] });
    expect(events[1]).toMatchObject({
      type: 'step',
      step: 1,
      totalSteps: 1,
      contentLoss: 0,
      styleLoss: 0,
      tvLoss: 0,
      totalLoss: 0,
    });
    const done = events[2]!;
    if (done.type !== 'done') throw new Error('no done event');
    expect(done).toMatchObject({
      image: { mime: 'image/png', width: 21, height: 16 },
      steps: 1,
      losses: { content: 0, style: 0, tv: 0, total: 0 },
    });
    expect(await sharp(done.image.bytes).metadata()).toMatchObject({ format: 'png', width: 21, height: 16 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it("defaults to the content's own size, capped by maxPixels", async () => {
    expect((await collect({}))[0]).toMatchObject({ width: 40, height: 30 });
    expect((await collect({}, { maxPixels: 20 * 15 }))[0]).toMatchObject({ width: 20, height: 15 });
  });

  it('strength 0 gives the content back; preserveColors keeps its chroma', async () => {
    const pixels = async (events: TransferEvent[]) => {
      const done = events.at(-1)!;
      if (done.type !== 'done') throw new Error('no done event');
      return new Uint8Array((await sharp(done.image.bytes).raw().toBuffer()).buffer);
    };
    const original = new Uint8Array(await sharp(content).raw().toBuffer());
    const same = await pixels(await collect({ strength: 0 }));
    expect(Math.max(...same.map((v, i) => Math.abs(v - original[i]!)))).toBeLessThanOrEqual(1);
    const full = await pixels(await collect({}));
    const half = await pixels(await collect({ strength: 0.5 }));
    const err = half.reduce((s, v, i) => s + Math.abs(v - (full[i]! + original[i]!) / 2), 0) / half.length;
    expect(err).toBeLessThan(1);
    const kept = await pixels(await collect({ preserveColors: true }));
    const chroma = (p: Uint8Array, i: number) => 0.595716 * p[i]! - 0.274453 * p[i + 1]! - 0.321263 * p[i + 2]!;
    let keptErr = 0;
    let fullErr = 0;
    for (let i = 0; i < kept.length; i += 3) {
      keptErr += Math.abs(chroma(kept, i) - chroma(original, i));
      fullErr += Math.abs(chroma(full, i) - chroma(original, i));
    }
    expect(keptErr).toBeLessThan(fullErr / 4);
  });

  it('rejects bad parameters before any tensor work, naming the field and the valid values', async () => {
    const before = tf.memory().numTensors;
    const cases: [Partial<FastTransferParams>, string, RegExp][] = [
      [{ size: 3 }, 'size', /8\.\.4096/],
      [{ size: 100.5 }, 'size', /8\.\.4096/],
      [{ strength: 1.5 }, 'strength', /0\.\.1/],
      [{ strength: Number.NaN }, 'strength', /0\.\.1/],
      [{ preserveColors: 'yes' as never }, 'preserveColors', /true, false/],
      [{ content: new Uint8Array() }, 'content', /JPEG/],
      [{ content: new Uint8Array([1, 2, 3]) }, 'content', /not a readable image/],
    ];
    for (const [params, field, valid] of cases) {
      const error = await collect(params).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, field).toBeInstanceOf(EngineInputError);
      expect((error as EngineInputError).field).toBe(field);
      expect((error as Error).message).toMatch(valid);
    }
    const tooBig = await collect({ size: 400 }, { maxPixels: 100 * 100 }).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(EngineInputError);
    expect((tooBig as Error).message).toMatch(/size ≤ 115 for this image/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops when asked, before or during the pass', async () => {
    const before = tf.memory().numTensors;
    await expect(collect({}, { stop: () => 'abort' })).rejects.toBeInstanceOf(TransferAbortedError);
    let polls = 0;
    await expect(collect({}, { stop: () => (++polls > 5 ? 'abort' : undefined) })).rejects.toBeInstanceOf(
      TransferAbortedError,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
