// Named engine errors. Each carries a stable `code` so the worker boundary, the CLI and the GraphQL layer can
// rebuild and map them without parsing messages.

export const ENGINE_ERROR_CODES = [
  'ENGINE_INPUT',
  'DIVERGED',
  'WEIGHTS_MISSING',
  'WEIGHTS_INVALID',
  'MODEL_MISSING',
  'MODEL_INVALID',
  'DOWNLOAD_FAILED',
  'ABORTED',
  'ENGINE_CRASHED',
  'BACKEND_UNAVAILABLE',
  'DEVICE_LOST',
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A transfer parameter or input image is invalid. Thrown before any tensor work. */
export class EngineInputError extends EngineError {
  constructor(
    /** Parameter path, e.g. `size`, `styles[1].weight`, `content`. */
    readonly field: string,
    message: string,
    /** What would have been accepted, for the caller to show. */
    readonly validValues?: string,
  ) {
    super('ENGINE_INPUT', validValues ? `${field}: ${message} (valid: ${validValues})` : `${field}: ${message}`);
  }
}

/** The optimisation blew up (a loss that is not finite): the parameters, not the images, are at fault. */
export class TransferDivergedError extends EngineError {
  constructor(readonly step: number) {
    super(
      'DIVERGED',
      `the optimisation diverged at step ${step} (the loss is not finite); lower learningRate or the loss weights`,
    );
  }
}

/** No usable weights on disk and they could not be fetched. */
export class WeightsMissingError extends EngineError {
  constructor(
    readonly folder: string,
    readonly command: string,
    reason: string,
  ) {
    super(
      'WEIGHTS_MISSING',
      `${reason}. Run \`${command}\` to fetch them, or put them in ${folder} ` +
        '(or point GRAMIAN_WEIGHTS at a folder that holds them).',
    );
  }
}

/** Weights were found but are unusable (bad hash, wrong shapes, truncated files). */
export class WeightsInvalidError extends EngineError {
  constructor(message: string) {
    super('WEIGHTS_INVALID', message);
  }
}

/**
 * A fast-style model could not be loaded: unknown architecture or format, a mismatched pair, missing or truncated
 * files, tensors of the wrong shape. The message says what was wrong and, where it applies, what is accepted.
 */
export class StyleModelError extends EngineError {
  constructor(
    /** The model file or folder, when the problem is in one. */
    readonly path: string | undefined,
    message: string,
    /** What would have been accepted, for the caller to show. */
    readonly validValues?: string,
  ) {
    super('MODEL_INVALID', `${path ? `${path}: ` : ''}${message}${validValues ? ` (valid: ${validValues})` : ''}`);
  }
}

/** A catalogue style model is not on disk and could not be fetched. */
export class ModelMissingError extends EngineError {
  constructor(
    readonly model: string,
    message: string,
  ) {
    super('MODEL_MISSING', message);
  }
}

/** Why a download failed: no connection, an HTTP error status, or bytes that are not the expected file. */
export type DownloadFailure = 'network' | 'http' | 'digest';

/** A file could not be downloaded; callers wrap it in an error that says what to do instead (weights, models). */
export class DownloadError extends EngineError {
  constructor(
    readonly url: string,
    readonly failure: DownloadFailure,
    readonly detail: string,
  ) {
    super('DOWNLOAD_FAILED', `${url}: ${detail}`);
  }
}

/** The caller aborted the run; every tensor of the run has been released. */
export class TransferAbortedError extends EngineError {
  constructor(message = 'transfer aborted') {
    super('ABORTED', message);
    this.name = 'AbortError';
  }
}

/** The engine worker died (out of memory, native crash) while running a job. */
export class EngineCrashedError extends EngineError {
  constructor(message: string) {
    super('ENGINE_CRASHED', message);
  }
}

/** A backend forced with GRAMIAN_BACKEND could not be loaded. */
export class BackendUnavailableError extends EngineError {
  constructor(message: string) {
    super('BACKEND_UNAVAILABLE', message);
  }
}

/**
 * The GPU device went away during a run (a driver reset, the GPU removed or hung, the device destroyed). Its tensors
 * are gone: the run ends, and the engine replaces the worker, whose backend cannot be used any more.
 */
export class DeviceLostError extends EngineError {
  constructor(
    /** WebGPU's GPUDeviceLostReason: `destroyed` or `unknown`. */
    readonly reason: string,
    /** What the driver said. */
    readonly detail: string,
  ) {
    super(
      'DEVICE_LOST',
      `the GPU device was lost (${reason}${detail ? `: ${detail}` : ''}); the run cannot go on, and the engine ` +
        'starts a fresh worker for the next one',
    );
  }
}

/** Plain-object form of an engine error, for posting across a MessagePort. */
export interface SerializedEngineError {
  name: string;
  code: EngineErrorCode | 'INTERNAL';
  message: string;
  field?: string;
  validValues?: string;
  folder?: string;
  command?: string;
  path?: string;
  step?: number;
  model?: string;
  url?: string;
  failure?: DownloadFailure;
  detail?: string;
  reason?: string;
}

export function serializeError(error: unknown): SerializedEngineError {
  if (error instanceof EngineError) {
    const out: SerializedEngineError = { name: error.name, code: error.code, message: error.message };
    if (error instanceof EngineInputError) Object.assign(out, { field: error.field, validValues: error.validValues });
    if (error instanceof WeightsMissingError) Object.assign(out, { folder: error.folder, command: error.command });
    if (error instanceof StyleModelError) Object.assign(out, { path: error.path, validValues: error.validValues });
    if (error instanceof TransferDivergedError) Object.assign(out, { step: error.step });
    if (error instanceof ModelMissingError) Object.assign(out, { model: error.model });
    if (error instanceof DownloadError)
      Object.assign(out, { url: error.url, failure: error.failure, detail: error.detail });
    if (error instanceof DeviceLostError) Object.assign(out, { reason: error.reason, detail: error.detail });
    return out;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, code: 'INTERNAL', message: err.stack ?? err.message };
}

/** The error a serialized one stands for: same class, code, fields and message as on the worker's side. */
export function deserializeError(data: SerializedEngineError): Error {
  const error = rebuild(data);
  error.message = data.message;
  return error;
}

function rebuild(data: SerializedEngineError): Error {
  switch (data.code) {
    case 'ENGINE_INPUT':
      return new EngineInputError(data.field ?? 'params', '', data.validValues);
    case 'DIVERGED':
      return new TransferDivergedError(data.step ?? 0);
    case 'WEIGHTS_MISSING':
      return new WeightsMissingError(data.folder ?? '', data.command ?? 'gramian weights', '');
    case 'WEIGHTS_INVALID':
      return new WeightsInvalidError(data.message);
    case 'MODEL_MISSING':
      return new ModelMissingError(data.model ?? '', data.message);
    case 'MODEL_INVALID':
      return new StyleModelError(data.path, '', data.validValues);
    case 'DOWNLOAD_FAILED':
      return new DownloadError(data.url ?? '', data.failure ?? 'network', data.detail ?? '');
    case 'ABORTED':
      return new TransferAbortedError(data.message);
    case 'ENGINE_CRASHED':
      return new EngineCrashedError(data.message);
    case 'BACKEND_UNAVAILABLE':
      return new BackendUnavailableError(data.message);
    case 'DEVICE_LOST':
      return new DeviceLostError(data.reason ?? 'unknown', data.detail ?? '');
    case 'INTERNAL': {
      const error = new Error(data.message);
      error.name = data.name;
      return error;
    }
  }
}
