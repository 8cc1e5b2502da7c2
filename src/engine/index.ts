// The engine's public surface for the rest of the program (server, CLI, benchmarks).
export { BACKEND_CHOICES, parseBackendChoice, type BackendChoice, type BackendInfo } from './backend.js';
export { Engine, type EngineInfo, type EngineOptions, type TransferOptions } from './engine.js';
export {
  EngineCrashedError,
  EngineError,
  EngineInputError,
  TransferAbortedError,
  WeightsInvalidError,
  WeightsMissingError,
  type EngineErrorCode,
} from './errors.js';
export type { Losses, TransferEvent } from './events.js';
export { fitLongestSide } from './image.js';
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
