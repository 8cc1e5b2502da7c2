// The layers users pick losses from: plain data, so that validation needs no tensors.
import { CONV_LAYERS } from '../assets/vgg19-layout.js';

export { CONV_LAYERS, VGG_MEAN_RGB } from '../assets/vgg19-layout.js';
/** Names users pick losses from (after the ReLU, as in neural-style). */
export const RELU_LAYERS: string[] = CONV_LAYERS.map((name) => name.replace('conv', 'relu'));
export const CONTENT_LAYER_NAMES = RELU_LAYERS;
export const STYLE_LAYER_NAMES = RELU_LAYERS;
