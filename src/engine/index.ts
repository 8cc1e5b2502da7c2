// The engine's public surface for the rest of the program (server, CLI, benchmarks).
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice, type BackendInfo } from './backend.js';
export { Engine, type EngineInfo, type EngineOptions, type TransferOptions } from './engine.js';
export {
  EngineCrashedError,
  EngineError,
  EngineInputError,
  StyleModelError,
  TransferAbortedError,
  WeightsInvalidError,
  WeightsMissingError,
  type EngineErrorCode,
} from './errors.js';
export type { Losses, TransferEvent } from './events.js';
export {
  ARCHITECTURES,
  FAST_DEFAULTS,
  FAST_LIMITS,
  FORMAT_ARCHITECTURE,
  MODEL_FORMATS,
  checkModelSource,
  detectModelFormat,
  fastTransfer,
  loadStyleModel,
  maxFastPixelsFor,
  resolveFastParams,
  type Architecture,
  type FastTransferParams,
  type ModelFormat,
  type StyleModel,
  type StyleModelSource,
  type StylizeParams,
} from './fast-style/index.js';
export { fitLongestSide } from './image.js';
export {
  MODEL_CATALOGUE,
  ModelMissingError,
  catalogueModel,
  ensureCatalogueModel,
  fetchCatalogueModel,
  locateCatalogueModel,
  verifyCatalogueModel,
  type CatalogueModel,
  type FetchProgress,
} from './model-catalogue.js';
export {
  GATYS_DEFAULTS,
  INITS,
  LIMITS,
  largestSideWithin,
  maxPixelsFor,
  OPTIMIZERS,
  POOLINGS,
  resolveGatysOptions,
  resolveTransferParams,
  type GatysOptions,
  type TransferParams,
} from './params.js';
export { RELU_LAYERS } from './layers.js';
