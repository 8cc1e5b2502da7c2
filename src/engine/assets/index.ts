// Files the engine needs on disk: where VGG19 weights are looked for, the one downloader, and the Keras conversion.
export { downloadFile, type DownloadOptions, type DownloadProgress, type HashAlgorithm } from './download.js';
export { convertKerasVgg19, KERAS_VGG19, type ConvertOptions } from './keras-vgg19.js';
export * from './paths.js';
export {
  ensureVggWeights,
  fetchVggWeights,
  type EnsureVggWeightsOptions,
  type FetchVggWeightsOptions,
} from './vgg19-fetch.js';
export { CONV_CHANNELS, CONV_LAYERS, vgg19KernelShape, VGG_MEAN_RGB } from './vgg19-layout.js';
