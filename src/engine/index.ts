// The engine's public surface for the rest of the program (server, CLI). Nothing here loads TensorFlow.js: tensors
// live in the worker threads (worker.ts); the in-process runners (gatys.ts, fast-style/) are imported directly.
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice } from './backend-choice.js';
export type { BackendInfo } from './backend.js';
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
  FAST_DEFAULTS,
  FAST_LIMITS,
  defaultFastSize,
  maxFastPixelsFor,
  resolveFastOptions,
  resolveFastParams,
  type FastOptions,
  type FastTransferParams,
  type StylizeParams,
} from './fast-style/fast-params.js';
export { checkModelSource, copyModelFiles, detectModelFormat } from './fast-style/model-source.js';
export { ARCHITECTURES, FORMAT_ARCHITECTURE, MODEL_FORMATS, type Architecture, type ModelFormat, type StyleModelSource } from './fast-style/types.js';
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
