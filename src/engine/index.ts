// The engine's public surface for the rest of the program (server, CLI, domain). Nothing imported here loads
// TensorFlow.js: tensors live in the worker threads (pool/worker.ts), so this file imports light modules one by one
// rather than the subsystem indexes, which bring tensors with them (gatys/, fast-style/, runtime/).
export { downloadFile, type DownloadProgress } from './assets/download.js';
export { convertKerasVgg19, KERAS_VGG19 } from './assets/keras-vgg19.js';
export {
  cacheRoot,
  findManifest,
  locateVggWeights,
  MANIFEST_NAMES,
  vggCacheDir,
  WEIGHTS_COMMAND,
} from './assets/paths.js';
export { ensureVggWeights, fetchVggWeights } from './assets/vgg19-fetch.js';
export * from './errors.js';
export type * from './events.js';
export {
  catalogueModel,
  ensureCatalogueModel,
  fetchCatalogueModel,
  locateCatalogueModel,
  MODEL_CATALOGUE,
  modelsSearchPath,
  verifyCatalogueModel,
  type CatalogueModel,
  type FetchCatalogueOptions,
} from './fast-style/catalogue.js';
export {
  defaultFastSize,
  FAST_DEFAULTS,
  FAST_LIMITS,
  largestFastSide,
  maxFastPixelsFor,
  resolveFastOptions,
  resolveFastParams,
  type FastOptions,
  type FastTransferParams,
  type StylizeParams,
} from './fast-style/fast-params.js';
export { checkModelSource, copyModelFiles, detectModelFormat } from './fast-style/model-source.js';
export {
  ARCHITECTURES,
  FORMAT_ARCHITECTURE,
  MODEL_FORMATS,
  type Architecture,
  type ModelFormat,
  type StyleModelSource,
} from './fast-style/types.js';
export {
  CHECKPOINT_MIME,
  CHECKPOINT_VERSION,
  DEFAULT_CHECKPOINT_EVERY,
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointState,
} from './gatys/checkpoint.js';
export { RELU_LAYERS } from './gatys/layers.js';
export {
  GATYS_DEFAULTS,
  INITS,
  LIMITS,
  MAX_OUTPUT_SIDE,
  maxPixelsFor,
  OPTIMIZERS,
  POOLINGS,
  resolveGatysOptions,
  resolveTransferParams,
  scaleSizes,
  type GatysOptions,
  type ResumeFrom,
  type TransferParams,
} from './gatys/params.js';
export { planRun, type RunPlan, type ScalePlan, type TileRect } from './gatys/tiling.js';
// The quality score's parameters only: scoreQuality itself runs VGG19, so it comes from gatys/index.ts (tensors).
export {
  QUALITY_DEFAULTS,
  QUALITY_LIMITS,
  resolveQualityParams,
  type QualityParams,
  type QualityScore,
  type ResolvedQualityParams,
} from './gatys/quality-params.js';
export { fitLongestSide, largestSideWithin } from './image/geometry.js';
export { checkJob, JOB_KINDS, type FastJob, type GatysJob, type Job, type JobKind, type StopRequest } from './job.js';
export { Engine, type EngineInfo, type EngineOptions, type RunOptions, type WorkerStats } from './pool/index.js';
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice } from './runtime/backend-choice.js';
export type { BackendInfo, BackendLimits, GpuAdapter } from './runtime/backend-info.js';
