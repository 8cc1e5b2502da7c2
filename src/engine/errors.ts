// Named engine errors. Each carries a stable `code` so the worker boundary, the CLI and the GraphQL layer can
// rebuild and map them without parsing messages.

export type EngineErrorCode =
  | 'ENGINE_INPUT'
  | 'WEIGHTS_MISSING'
  | 'WEIGHTS_INVALID'
  | 'MODEL_MISSING'
  | 'MODEL_INVALID'
  | 'ABORTED'
  | 'ENGINE_CRASHED'
  | 'BACKEND_UNAVAILABLE';

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

/** No usable weights on disk and they could not be fetched. */
export class WeightsMissingError extends EngineError {
  constructor(
    readonly folder: string,
    readonly command: string,
    reason: string,
  ) {
    super('WEIGHTS_MISSING', `${reason}. Run \`${command}\` to fetch them, or put them in ${folder} (or point GRAMIAN_WEIGHTS at a folder that holds them).`);
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
}

export function serializeError(error: unknown): SerializedEngineError {
  if (error instanceof EngineError) {
    const out: SerializedEngineError = { name: error.name, code: error.code, message: error.message };
    if (error instanceof EngineInputError) Object.assign(out, { field: error.field, validValues: error.validValues });
    if (error instanceof WeightsMissingError) Object.assign(out, { folder: error.folder, command: error.command });
    if (error instanceof StyleModelError) Object.assign(out, { path: error.path, validValues: error.validValues });
    return out;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, code: 'INTERNAL', message: err.stack ?? err.message };
}

export function deserializeError(data: SerializedEngineError): Error {
  let error: Error;
  switch (data.code) {
    case 'ENGINE_INPUT': {
      const e = new EngineInputError(data.field ?? 'params', '', data.validValues);
      e.message = data.message;
      error = e;
      break;
    }
    case 'WEIGHTS_MISSING': {
      const e = new WeightsMissingError(data.folder ?? '', data.command ?? 'gramian weights', '');
      e.message = data.message;
      error = e;
      break;
    }
    case 'WEIGHTS_INVALID':
      error = new WeightsInvalidError(data.message);
      break;
    case 'MODEL_INVALID': {
      const e = new StyleModelError(data.path, '', data.validValues);
      e.message = data.message;
      error = e;
      break;
    }
    case 'ABORTED':
      error = new TransferAbortedError(data.message);
      break;
    case 'ENGINE_CRASHED':
      error = new EngineCrashedError(data.message);
      break;
    case 'BACKEND_UNAVAILABLE':
      error = new BackendUnavailableError(data.message);
      break;
    case 'INTERNAL':
      error = new Error(data.message);
      error.name = data.name;
      break;
    default:
      // Codes without a class of their own (MODEL_MISSING, MODEL_INVALID, …) keep their code.
      error = new EngineError(data.code, data.message);
      error.name = data.name;
  }
  return error;
}
