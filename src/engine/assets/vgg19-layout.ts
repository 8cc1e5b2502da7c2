// VGG19's convolutions as its weight files hold them: names, kernel shapes and input convention. Plain data, read
// by the converter (which writes weights) and by the network (which reads them).

/** Convolution blocks of VGG19: [block, convs in block, channels]. */
const BLOCKS: [number, number, number][] = [
  [1, 2, 64],
  [2, 2, 128],
  [3, 4, 256],
  [4, 4, 512],
  [5, 4, 512],
];

export const CONV_LAYERS: string[] = BLOCKS.flatMap(([b, n]) =>
  Array.from({ length: n }, (_, i) => `conv${b}_${i + 1}`),
);

/** Output channels of each conv layer, in CONV_LAYERS order. */
export const CONV_CHANNELS: number[] = BLOCKS.flatMap(([, n, channels]) => new Array<number>(n).fill(channels));

/** [W,H,in,out] of a conv layer's kernel, as weights folders store it. */
export function vgg19KernelShape(layer: string): [number, number, number, number] {
  const i = CONV_LAYERS.indexOf(layer);
  if (i < 0) throw new RangeError(`${layer} is not a VGG19 conv layer`);
  return [3, 3, i === 0 ? 3 : CONV_CHANNELS[i - 1]!, CONV_CHANNELS[i]!];
}

/** RGB mean subtracted from 0..255 input (ImageNet, as the Caffe VGG19 was trained). */
export const VGG_MEAN_RGB = [123.68, 116.779, 103.939] as const;
