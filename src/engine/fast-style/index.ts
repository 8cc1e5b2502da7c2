// Fast (feed-forward) style transfer: trained networks in two architectures, loaded from their published files.
export { buildEngstromNet, ENGSTROM_EPSILON, engstromVariableName, type EngstromOptions } from './engstrom-net.js';
export { defaultFastSize, FAST_DEFAULTS, FAST_LIMITS, maxFastPixelsFor, resolveFastParams, type FastTransferParams, type ResolvedFastParams, type StylizeParams } from './fast-params.js';
export { fastTransfer, type FastTransferContext } from './fast-transfer.js';
export { loadMl5Checkpoint, ML5_MANIFEST, type CheckpointVariable } from './ml5-checkpoint.js';
export { halfToFloat, loadNcnnModel, NCNN_MAGIC, NCNN_TAG_FP16, parseNcnnParam, readNcnnBin, type NcnnLayer, type NcnnModel } from './ncnn.js';
export { buildPytorchNet, matchTransformerNet, type PytorchOptions } from './pytorch-net.js';
export { checkModelSource, detectModelFormat } from './model-source.js';
export { loadStyleModel, type LoadStyleModelOptions } from './style-model.js';
export { ARCHITECTURES, FORMAT_ARCHITECTURE, MODEL_FORMATS, type Architecture, type ModelFormat, type StyleModel, type StyleModelSource, type StylizeOptions } from './types.js';
export { StyleModelCache } from './model-cache.js';
