// Engstrom's TransformNet (lengstrom/fast-style-transfer, as ml5 and reiinakano run it in the browser):
// conv 9×9 → conv 3×3/2 → conv 3×3/2 → 5 residual blocks → 2 transposed convs 3×3/2 → conv 9×9 → tanh·150 + 127.5.
// Every conv is 'same'-padded, has no bias and is followed by an instance norm (shift first, then scale, eps 1e-3).
// Kernel sizes and channel widths come from the checkpoint's shapes; the strides and the order are the architecture.
import * as tf from '@tensorflow/tfjs';
import { StyleModelError } from '../errors.js';
import { runLayers, WeightSet, type Layer } from './layers.js';
import type { CheckpointVariable } from './ml5-checkpoint.js';
import {
  convAsPhases,
  cropTo,
  hookedInstanceNorm,
  phaseConv,
  subpixelConv,
  transposedConvAsSubpixel,
  type SubpixelKernel,
} from './ops.js';
import type { InstanceNormHook, StyleModel, StylizeOptions } from './types.js';

export const ENGSTROM_EPSILON = 1e-3;
export const ENGSTROM_VARIABLES = 48;
const RESIDUAL_IDS = [9, 15, 21, 27, 33];

export interface EngstromOptions {
  /**
   * How the two upsampling layers run. 'subpixel' (default): one forward convolution at the low resolution and
   * depthToSpace, numerically the same as 'native': tf.conv2dTranspose, which the wasm backend runs as a slow loop.
   */
  transposed?: 'subpixel' | 'native';
  /**
   * How the last (9×9, 3-channel) conv runs. 'phases' (default): on the image's 2×2 phases with 12 output channels,
   * which XNNPACK runs about twice as fast; 'direct': tf.conv2d. Same numbers either way.
   */
  finalConv?: 'phases' | 'direct';
}

/** deeplearn.js names variables Variable, Variable_1, Variable_2, … in creation order. */
export function engstromVariableName(id: number): string {
  return id === 0 ? 'Variable' : `Variable_${id}`;
}

type LayerKind = 'conv' | 'transposed';

interface LayerSpec {
  id: number;
  kind: LayerKind;
  stride: number;
  relu: boolean;
}

/** The 16 conv layers in order, each followed by the instance norm of ids id+1 (shift) and id+2 (scale). */
const LAYERS: LayerSpec[] = [
  { id: 0, kind: 'conv', stride: 1, relu: true },
  { id: 3, kind: 'conv', stride: 2, relu: true },
  { id: 6, kind: 'conv', stride: 2, relu: true },
  ...RESIDUAL_IDS.flatMap((id): LayerSpec[] => [
    { id, kind: 'conv', stride: 1, relu: true },
    { id: id + 3, kind: 'conv', stride: 1, relu: false },
  ]),
  { id: 39, kind: 'transposed', stride: 2, relu: true },
  { id: 42, kind: 'transposed', stride: 2, relu: true },
  { id: 45, kind: 'conv', stride: 1, relu: false },
];

interface LoadedLayer {
  spec: LayerSpec;
  k: number;
  outputs: number;
  filter: tf.Tensor4D;
  subpixel?: SubpixelKernel;
  /** The conv as a convAsPhases kernel (the last layer). */
  phases?: SubpixelKernel;
  shift: tf.Tensor1D;
  scale: tf.Tensor1D;
}

const shapeText = (shape: number[]) => `[${shape.join(', ')}]`;

/** Checks the checkpoint holds exactly this architecture and makes its tensors (sub-pixel kernels precomputed). */
function loadLayers(
  variables: Map<string, CheckpointVariable>,
  path: string,
  options: EngstromOptions,
  weights: WeightSet,
): LoadedLayer[] {
  const expected = new Set(Array.from({ length: ENGSTROM_VARIABLES }, (_, i) => engstromVariableName(i)));
  const missing = [...expected].filter((name) => !variables.has(name));
  const extra = [...variables.keys()].filter((name) => !expected.has(name));
  if (missing.length || extra.length) {
    const problems = [
      missing.length ? `missing ${missing.join(', ')}` : '',
      extra.length ? `unexpected ${extra.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    throw new StyleModelError(
      path,
      `is not an Engstrom TransformNet checkpoint (${problems})`,
      `the ${ENGSTROM_VARIABLES} variables Variable, Variable_1 … Variable_${ENGSTROM_VARIABLES - 1}`,
    );
  }
  const get = (id: number) => variables.get(engstromVariableName(id))!;
  let channels = 3;
  const layers: LoadedLayer[] = [];
  for (const spec of LAYERS) {
    const kernel = get(spec.id);
    const name = engstromVariableName(spec.id);
    const [kh, kw, a, b] = kernel.shape;
    // conv kernels are [k, k, in, out]; conv2dTranspose kernels are [k, k, out, in].
    const inputs = spec.kind === 'conv' ? a : b;
    const outputs = spec.kind === 'conv' ? b : a;
    if (kernel.shape.length !== 4 || kh !== kw || !kh || inputs !== channels || !outputs) {
      const layout = spec.kind === 'conv' ? `[k, k, ${channels}, out]` : `[k, k, out, ${channels}]`;
      throw new StyleModelError(
        path,
        `${name} has shape ${shapeText(kernel.shape)}, expected ${layout} ` +
          `(a square ${spec.kind === 'conv' ? 'conv' : 'transposed conv'} kernel after ${channels} channels)`,
      );
    }
    if (spec === LAYERS.at(-1) && outputs !== 3)
      throw new StyleModelError(path, `${name} has ${outputs} output channels, expected 3 (RGB)`);
    for (const offset of [1, 2]) {
      const norm = get(spec.id + offset);
      if (norm.shape.length !== 1 || norm.shape[0] !== outputs) {
        throw new StyleModelError(
          path,
          `${engstromVariableName(spec.id + offset)} (instance norm ${offset === 1 ? 'shift' : 'scale'} of ${name}) ` +
            `has shape ${shapeText(norm.shape)}, expected [${outputs}]`,
        );
      }
    }
    const layer: LoadedLayer = {
      spec,
      k: kh,
      outputs,
      filter: undefined as unknown as tf.Tensor4D,
      shift: weights.add(tf.tensor1d(get(spec.id + 1).data)),
      scale: weights.add(tf.tensor1d(get(spec.id + 2).data)),
    };
    if (spec.kind === 'transposed' && options.transposed !== 'native') {
      layer.subpixel = transposedConvAsSubpixel(kernel.data, kh, outputs, inputs);
      const s = layer.subpixel;
      layer.filter = weights.add(tf.tensor4d(s.filter, [s.size, s.size, inputs, 4 * outputs]));
    } else if (spec === LAYERS.at(-1) && options.finalConv !== 'direct' && kh % 4 === 1) {
      // 'same' pads (k−1)/2 on each side, which must be even to fall on whole phases: k = 5, 9, 13, …
      layer.phases = convAsPhases(kernel.data, kh, inputs, outputs);
      const p = layer.phases;
      layer.filter = weights.add(tf.tensor4d(p.filter, [p.size, p.size, p.inputs, 4 * outputs]));
    } else {
      layer.filter = weights.add(tf.tensor4d(kernel.data, kernel.shape as [number, number, number, number]));
    }
    layers.push(layer);
    channels = outputs;
  }
  return layers;
}

/** Input pixels per pixel of each layer's output (and of its norm's input), in LAYERS order. */
const LAYER_SCALES = [1, 2, ...Array<number>(1 + 2 * RESIDUAL_IDS.length).fill(4), 2, 1, 1];

/** Layer `index` of LAYERS: its conv, then instance norm `index` (through the pass's hook, if any). */
function convLayer(layer: LoadedLayer, index: number, hook: InstanceNormHook | undefined): Layer {
  const { spec, filter, shift, scale } = layer;
  return (x) => {
    let y: tf.Tensor4D;
    if (layer.phases) y = phaseConv(x, filter, layer.phases, layer.k, { zeroPad: (layer.k - 1) / 2 });
    else if (spec.kind === 'conv') y = tf.conv2d(x, filter, spec.stride, 'same');
    else if (layer.subpixel) y = subpixelConv(x, filter, layer.subpixel);
    else y = tf.conv2dTranspose(x, filter, [1, x.shape[1] * 2, x.shape[2] * 2, layer.outputs], 2, 'same');
    return hookedInstanceNorm(hook, index, LAYER_SCALES[index]!, y, scale, shift, ENGSTROM_EPSILON, spec.relu);
  };
}

export function buildEngstromNet(
  variables: Map<string, CheckpointVariable>,
  path: string,
  options: EngstromOptions = {},
): StyleModel {
  const weights = new WeightSet();
  let layers: LoadedLayer[];
  try {
    layers = loadLayers(variables, path, options, weights);
  } catch (error) {
    weights.dispose();
    throw error;
  }
  const pipelineWith = (hook: InstanceNormHook | undefined): Layer[] => {
    const byId = new Map(layers.map((l, index) => [l.spec.id, convLayer(l, index, hook)]));
    return [
      (x) => (x.dtype === 'float32' ? x : tf.cast(x, 'float32')),
      byId.get(0)!,
      byId.get(3)!,
      byId.get(6)!,
      ...RESIDUAL_IDS.map((id): Layer => {
        const first = byId.get(id)!;
        const second = byId.get(id + 3)!;
        return (x) => tf.add<tf.Tensor4D>(second(first(x)), x);
      }),
      byId.get(39)!,
      byId.get(42)!,
      (x) => tf.clipByValue(tf.add(tf.mul(tf.tanh(byId.get(45)!(x)), 150), 127.5), 0, 255) as tf.Tensor4D,
    ];
  };
  const plain = pipelineWith(undefined);
  return {
    architecture: 'engstrom',
    format: 'ml5-checkpoint',
    path,
    channels: layers.map((l) => l.outputs),
    instanceNorms: layers.length,
    stylize(rgb: tf.Tensor4D, options: StylizeOptions = {}): tf.Tensor4D {
      if (weights.isDisposed) throw new StyleModelError(path, 'the model was disposed');
      const [, height, width] = rgb.shape;
      // Two 'same' stride-2 convs give ⌈H/2⌉ then ⌈H/4⌉ rows, the transposed convs 4⌈H/4⌉: crop the extra rows.
      const pipeline = options.norm ? pipelineWith(options.norm) : plain;
      const out = runLayers(rgb, [...pipeline, (x) => cropTo(x, height, width)], options.interrupt);
      return out;
    },
    dispose: () => weights.dispose(),
  };
}
