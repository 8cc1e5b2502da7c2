// Gatys et al.: optimise the pixels so their VGG19 features match the content and their Gram matrices the styles.
// The transfer, the network and its weights, the losses, the optimisers and the parameters they take.
export * from './checkpoint.js';
export { GramCache, type GramSet } from './gram-cache.js';
export * from './kernels.js';
export { CONTENT_LAYER_NAMES, CONV_LAYERS, RELU_LAYERS, STYLE_LAYER_NAMES, VGG_MEAN_RGB } from './layers.js';
export {
  contentLoss,
  gram,
  styleLoss,
  totalVariationLoss,
  weightedLosses,
  type LossTargets,
  type LossWeights,
} from './losses.js';
export { Adam } from './adam.js';
export { Lbfgs } from './lbfgs.js';
export { createOptimizer, loadTensor, saveTensor, type PixelOptimizer } from './optimizer.js';
export * from './params.js';
export * from './quality-params.js';
export { scoreQuality } from './quality.js';
export { gatysTransfer, type GatysContext } from './transfer.js';
export { tiledGrams } from './tiled-grams.js';
export * from './tiling.js';
export { fromVggSpace, toVggSpace, Vgg19, type FeatureObjective } from './vgg19.js';
export { loadVgg19, readWeightsFolder } from './weights.js';
