// VGG19's layer names and input convention: plain data, so that validation needs no tensors.

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
