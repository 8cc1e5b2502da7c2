// Fast (feed-forward) style transfer: trained networks in two architectures, loaded from their published files, and
// the catalogue of pretrained ones. Imports nothing from gatys/.
export * from './catalogue.js';
export * from './fast-params.js';
export { fastTransfer, type FastTransferContext } from './fast-transfer.js';
export { StyleModelCache } from './model-cache.js';
export { checkModelSource, copyModelFiles, detectModelFormat } from './model-source.js';
export { loadStyleModel, type LoadStyleModelOptions } from './style-model.js';
export * from './types.js';
export { planTiles, TILE_HALO, type TilePlan } from './tiling.js';
