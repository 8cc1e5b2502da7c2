// The PyTorch examples' TransformerNet (fast_neural_style, Johnson et al. with instance norm), read from an ncnn graph:
// reflect pad + conv 9×9 → conv 3×3/2 → conv 3×3/2 → 5 residual blocks → 2 × (nearest ×2, conv 3×3) → conv 9×9.
// Every conv has a bias; all but the last are followed by an instance norm (gamma then beta, eps from the file) and,
// outside the second conv of a residual block, a ReLU. No tanh: the output is clamped to 0..255.
// The .param graph is checked against this layout layer by layer (types, kernels, strides, padding, wiring); kernel
// sizes and channel widths come from the file.
import * as tf from '@tensorflow/tfjs';
import { StyleModelError } from '../errors.js';
import { runLayers, WeightSet, type Layer } from './layers.js';
import { intParam, type NcnnLayer, type NcnnModel } from './ncnn.js';
import {
  convAsPhases,
  cropTo,
  edgePad1,
  edgePadTo,
  hookedInstanceNorm,
  oihwToHwio,
  phaseConv,
  subpixelConv,
  upsampleConvAsSubpixel,
  type SubpixelKernel,
} from './ops.js';
import type { InstanceNormHook, StyleModel, StylizeOptions } from './types.js';

export const PYTORCH_RESIDUAL_BLOCKS = 5;
/** ncnn Padding type 2. */
const PAD_REFLECT = 2;
/** ncnn Interp resize_type 1. */
const INTERP_NEAREST = 1;
/** ncnn BinaryOp op_type 0. */
const BINARY_ADD = 0;

export interface PytorchOptions {
  /**
   * How the two upsampling layers run. 'subpixel' (default): one convolution at the low resolution and
   * depthToSpace, with no ×4 intermediate; 'native': resizeNearestNeighbor, mirrorPad, conv2d as PyTorch does.
   */
  upsample?: 'subpixel' | 'native';
  /**
   * How the last (9×9, 3-channel) conv runs. 'phases' (default): on the image's 2×2 phases with 12 output channels,
   * which XNNPACK runs about twice as fast; 'direct': tf.conv2d. Same numbers either way.
   */
  finalConv?: 'phases' | 'direct';
}

interface ConvSpec {
  name: string;
  k: number;
  stride: number;
  pad: number;
  inputs: number;
  outputs: number;
  upsample: boolean;
  relu: boolean;
  /** [k, k, in, out] float32 (fp16 weights decoded). */
  hwio: Float32Array;
  bias: Float32Array;
  norm?: { gamma: Float32Array; beta: Float32Array; eps: number };
}

/** Walks the graph in .param order, matching TransformerNet and collecting each conv with its norm. */
export function matchTransformerNet(model: NcnnModel, path: string): ConvSpec[] {
  // Split layers only fan a blob out; map their outputs back to the blob they copy.
  const alias = new Map<string, string>();
  const resolve = (blob: string) => alias.get(blob) ?? blob;
  const sequence: NcnnLayer[] = [];
  let inputBlob: string | undefined;
  for (const layer of model.layers) {
    if (layer.type === 'Input') inputBlob = layer.tops[0];
    else if (layer.type === 'Split') for (const top of layer.tops) alias.set(top, resolve(layer.bottoms[0] ?? ''));
    else sequence.push(layer);
  }
  if (!inputBlob) throw new StyleModelError(path, 'has no Input layer');
  let index = 0;
  let current = inputBlob;
  let channels = 3;
  const fail = (layer: NcnnLayer | undefined, message: string): never => {
    const where = layer ? `line ${layer.line} (${layer.type} "${layer.name}")` : 'end of file';
    throw new StyleModelError(path, `is not a PyTorch TransformerNet: at ${where}: ${message}`);
  };
  const take = (type: string, what: string): NcnnLayer => {
    const layer = sequence[index++];
    if (!layer || layer.type !== type) fail(layer, `expected ${type} (${what})`);
    const source = resolve(layer!.bottoms[0] ?? '');
    if (type !== 'BinaryOp' && (layer!.bottoms.length !== 1 || source !== current))
      fail(layer, `expected it to read blob "${current}"`);
    return layer!;
  };
  const advance = (layer: NcnnLayer) => {
    if (layer.tops.length !== 1) fail(layer, 'expected one output blob');
    current = layer.tops[0]!;
  };
  const conv = (what: string, stride: number, opts: { upsample?: boolean; norm: boolean; relu: boolean }): ConvSpec => {
    if (opts.upsample) {
      const interp = take('Interp', `nearest ×2 upsample before the ${what}`);
      if (intParam(interp, 0, 0) !== INTERP_NEAREST || intParam(interp, 1, 1) !== 2 || intParam(interp, 2, 1) !== 2)
        fail(interp, 'expected nearest-neighbour ×2 (0=1 1=2 2=2)');
      advance(interp);
    }
    const padding = take('Padding', `reflect padding before the ${what}`);
    const pads = [0, 1, 2, 3].map((id) => intParam(padding, id, 0));
    if (intParam(padding, 4, 0) !== PAD_REFLECT) fail(padding, 'expected reflect padding (4=2)');
    advance(padding);
    const layer = take('Convolution', what);
    const outputs = intParam(layer, 0, 0);
    const k = intParam(layer, 1, 0);
    const count = intParam(layer, 6, 0);
    const kernelW = intParam(layer, 1, 0);
    if (intParam(layer, 11, kernelW) !== k) fail(layer, 'expected a square kernel');
    if (intParam(layer, 3, 1) !== stride || intParam(layer, 13, stride) !== stride)
      fail(layer, `expected stride ${stride} for the ${what}`);
    if (intParam(layer, 2, 1) !== 1 || intParam(layer, 4, 0) !== 0 || intParam(layer, 9, 0) !== 0)
      fail(layer, 'expected no dilation, no built-in padding and no fused activation');
    const inputs = count / (outputs * k * k);
    if (!(outputs > 0 && k > 0 && inputs === channels))
      fail(layer, `expected ${channels} input channels, the weights give ${inputs} (6=${count}, 0=${outputs}, 1=${k})`);
    const pad = Math.floor(k / 2);
    if (pads.some((p) => p !== pad))
      fail(padding, `expected ${pad} pixels on every side for the ${k}×${k} conv, got ${pads.join(', ')}`);
    const weights = model.conv.get(layer.name);
    if (!weights?.bias) fail(layer, 'expected a bias (5=1)');
    advance(layer);
    const spec: ConvSpec = {
      name: layer.name,
      k,
      stride,
      pad,
      inputs,
      outputs,
      upsample: opts.upsample ?? false,
      relu: opts.relu,
      hwio: oihwToHwio(weights!.weights, outputs, inputs, k),
      bias: weights!.bias!,
    };
    if (opts.norm) {
      const norm = take('InstanceNorm', `instance norm after the ${what}`);
      const weightsOfNorm = model.norm.get(norm.name);
      if (intParam(norm, 0, 0) !== outputs || !weightsOfNorm)
        fail(norm, `expected an affine instance norm of ${outputs} channels`);
      spec.norm = { ...weightsOfNorm!, eps: Number(norm.params.get(1) ?? 0.001) };
      advance(norm);
    }
    if (opts.relu) {
      const relu = take('ReLU', `ReLU after the ${what}`);
      if (Number(relu.params.get(0) ?? 0) !== 0) fail(relu, 'expected a plain ReLU (slope 0)');
      advance(relu);
    }
    channels = outputs;
    return spec;
  };
  const specs: ConvSpec[] = [
    conv('first 9×9 conv', 1, { norm: true, relu: true }),
    conv('first downsampling conv', 2, { norm: true, relu: true }),
    conv('second downsampling conv', 2, { norm: true, relu: true }),
  ];
  for (let block = 1; block <= PYTORCH_RESIDUAL_BLOCKS; block++) {
    const blockInput = current;
    specs.push(conv(`conv 1 of residual block ${block}`, 1, { norm: true, relu: true }));
    specs.push(conv(`conv 2 of residual block ${block}`, 1, { norm: true, relu: false }));
    const add = take('BinaryOp', `residual add of block ${block}`);
    const reads = add.bottoms.map(resolve).sort();
    if (
      intParam(add, 0, 0) !== BINARY_ADD ||
      intParam(add, 1, 0) !== 0 ||
      reads.join() !== [current, blockInput].sort().join()
    ) {
      fail(add, `expected ${current} + ${blockInput}`);
    }
    advance(add);
  }
  specs.push(conv('first upsampling conv', 1, { upsample: true, norm: true, relu: true }));
  specs.push(conv('second upsampling conv', 1, { upsample: true, norm: true, relu: true }));
  const last = conv('last 9×9 conv', 1, { norm: false, relu: false });
  if (last.outputs !== 3) fail(sequence[index - 1], `expected 3 output channels (RGB), got ${last.outputs}`);
  specs.push(last);
  if (index < sequence.length) fail(sequence[index], 'expected the end of the network');
  return specs;
}

/** Rows (or columns) after each conv, for an input of n; undefined when a reflect pad would exceed its input. */
function outputSide(specs: ConvSpec[], n: number): number | undefined {
  let side = n;
  for (const spec of specs) {
    if (spec.upsample) side *= 2;
    // Reflect padding needs more pixels than it pads (PyTorch and ncnn refuse otherwise).
    if (spec.pad >= side) return undefined;
    side = Math.floor((side + 2 * spec.pad - spec.k) / spec.stride) + 1;
    if (side < 1) return undefined;
  }
  return side;
}

/** Smallest side the network accepts as it is; smaller inputs are edge-padded up to it and cropped back. */
function minimumSide(specs: ConvSpec[]): number {
  for (let n = 1; n < 1024; n++) if (outputSide(specs, n) !== undefined) return n;
  throw new Error('no input size fits this network');
}

interface LoadedConv {
  spec: ConvSpec;
  filter: tf.Tensor4D;
  bias?: tf.Tensor1D;
  subpixel?: SubpixelKernel;
  /** The conv as a convAsPhases kernel (the last layer). */
  phases?: SubpixelKernel;
  gamma?: tf.Tensor1D;
  beta?: tf.Tensor1D;
}

function reflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {
  if (p === 0) return x;
  return tf.mirrorPad(
    x,
    [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ],
    'reflect',
  );
}

/**
 * One conv with its norm and ReLU. `norm` is its instance norm's index in the network and `scale` the input pixels per
 * pixel of its output; the pass's hook (if any) sees and may replace the norm's statistics.
 */
function convLayer(layer: LoadedConv, norm: number, scale: number, hook: InstanceNormHook | undefined): Layer {
  const { spec, filter, bias, gamma, beta } = layer;
  return (x) => {
    let y: tf.Tensor4D;
    if (layer.subpixel) {
      y = subpixelConv(edgePad1(x), filter, layer.subpixel);
    } else if (layer.phases) {
      y = phaseConv(reflectPad(x, spec.pad), filter, layer.phases, spec.k, bias ? { bias } : {});
    } else {
      const input = spec.upsample ? tf.image.resizeNearestNeighbor(x, [x.shape[1] * 2, x.shape[2] * 2]) : x;
      // The bias of a conv followed by an instance norm cancels in the norm's mean subtraction: only the last has one.
      y = bias
        ? tf.fused.conv2d({ x: reflectPad(input, spec.pad), filter, strides: spec.stride, pad: 'valid', bias })
        : tf.conv2d(reflectPad(input, spec.pad), filter, spec.stride, 'valid');
    }
    return gamma && beta && spec.norm
      ? hookedInstanceNorm(hook, norm, scale, y, gamma, beta, spec.norm.eps, spec.relu)
      : spec.relu
        ? tf.relu(y)
        : y;
  };
}

export function buildPytorchNet(model: NcnnModel, path: string, options: PytorchOptions = {}): StyleModel {
  const specs = matchTransformerNet(model, path);
  // Checked before any weight tensor exists, so a refused model leaves nothing behind.
  const minSide = minimumSide(specs);
  const weights = new WeightSet();
  const loaded: LoadedConv[] = specs.map((spec, index) => {
    const layer: LoadedConv = { spec, filter: undefined as unknown as tf.Tensor4D };
    if (spec.upsample && spec.k === 3 && options.upsample !== 'native') {
      layer.subpixel = upsampleConvAsSubpixel(spec.hwio, spec.inputs, spec.outputs);
      const s = layer.subpixel;
      layer.filter = weights.add(tf.tensor4d(s.filter, [s.size, s.size, spec.inputs, 4 * spec.outputs]));
    } else if (index === specs.length - 1 && spec.stride === 1 && spec.k > 1 && options.finalConv !== 'direct') {
      layer.phases = convAsPhases(spec.hwio, spec.k, spec.inputs, spec.outputs);
      const p = layer.phases;
      layer.filter = weights.add(tf.tensor4d(p.filter, [p.size, p.size, p.inputs, 4 * spec.outputs]));
    } else {
      layer.filter = weights.add(tf.tensor4d(spec.hwio, [spec.k, spec.k, spec.inputs, spec.outputs]));
    }
    if (spec.norm) {
      layer.gamma = weights.add(tf.tensor1d(spec.norm.gamma));
      layer.beta = weights.add(tf.tensor1d(spec.norm.beta));
    } else {
      layer.bias = weights.add(tf.tensor1d(spec.bias));
    }
    return layer;
  });
  // Each conv's norm index (in order, skipping the convs without one) and output scale (input pixels per pixel).
  const norms: number[] = [];
  const scales: number[] = [];
  let scale = 1;
  let count = 0;
  for (const spec of specs) {
    if (spec.upsample) scale /= 2;
    scale *= spec.stride;
    scales.push(scale);
    norms.push(spec.norm ? count++ : -1);
  }
  const pipelineWith = (hook: InstanceNormHook | undefined): Layer[] => {
    const layers = loaded.map((layer, i) => convLayer(layer, norms[i]!, scales[i]!, hook));
    return [
      layers[0]!,
      layers[1]!,
      layers[2]!,
      ...Array.from({ length: PYTORCH_RESIDUAL_BLOCKS }, (_, i): Layer => {
        const first = layers[3 + 2 * i]!;
        const second = layers[4 + 2 * i]!;
        return (x) => tf.add<tf.Tensor4D>(second(first(x)), x);
      }),
      ...layers.slice(3 + 2 * PYTORCH_RESIDUAL_BLOCKS),
    ];
  };
  const plain = pipelineWith(undefined);
  return {
    architecture: 'pytorch',
    format: 'ncnn',
    path,
    channels: specs.map((s) => s.outputs),
    instanceNorms: count,
    stylize(rgb: tf.Tensor4D, opts: StylizeOptions = {}): tf.Tensor4D {
      if (weights.isDisposed) throw new StyleModelError(path, 'the model was disposed');
      const [, height, width] = rgb.shape;
      // Stride-2 convs give ⌈H/2⌉ then ⌈H/4⌉ rows and the upsamplings 4⌈H/4⌉: crop back to H × W. Inputs too small
      // for the reflect padding are edge-padded first (bottom and right, so the crop keeps the original pixels).
      return runLayers(
        rgb,
        [
          (x) => (x.dtype === 'float32' ? x : tf.cast(x, 'float32')),
          ...(height < minSide || width < minSide ? [(x: tf.Tensor4D) => edgePadTo(x, minSide, minSide)] : []),
          ...(opts.norm ? pipelineWith(opts.norm) : plain),
          (x) => cropTo(tf.clipByValue(x, 0, 255), height, width),
        ],
        opts.interrupt,
      );
    },
    dispose: () => weights.dispose(),
  };
}
