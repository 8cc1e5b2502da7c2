// Fast (feed-forward) style transfer: trained networks in two architectures, loaded from their published files.
// What the worker, the benches and the tests use; the modules behind it are imported directly where needed.
export { fastTransfer, type FastTransferContext } from './fast-transfer.js';
export { detectModelFormat } from './model-source.js';
export { loadStyleModel, type LoadStyleModelOptions } from './style-model.js';
export type { FastTransferParams } from './fast-params.js';
export type { StyleModel, StyleModelSource } from './types.js';
