// Errors a client can cause and should be told about, each with a stable code. The GraphQL layer returns them as
// typed results (src/schema/types/errors.ts); anything else is masked as an internal error.

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_AN_IMAGE'
  | 'IMAGE_TOO_LARGE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'ENGINE_UNAVAILABLE';

export class ClientError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A parameter is out of range or malformed; `field` names it and `validValues` says what would do. */
export class InputError extends ClientError {
  constructor(
    readonly field: string,
    message: string,
    readonly validValues?: string,
    code: 'INVALID_INPUT' | 'NOT_AN_IMAGE' = 'INVALID_INPUT',
  ) {
    super(code, validValues ? `${field}: ${message} (valid: ${validValues})` : `${field}: ${message}`);
  }
}

/** An upload over the configured byte or pixel limit. */
export class ImageTooLargeError extends ClientError {
  constructor(
    readonly field: string,
    message: string,
    readonly limit: number,
  ) {
    super('IMAGE_TOO_LARGE', `${field}: ${message}`);
  }
}

export class NotFoundError extends ClientError {
  constructor(
    readonly type: string,
    readonly id: string,
  ) {
    super('NOT_FOUND', `no ${type} with id ${id}`);
  }
}

/** The request is valid but the current state forbids it (a name taken, a style a queued run needs, …). */
export class ConflictError extends ClientError {
  constructor(message: string) {
    super('CONFLICT', message);
  }
}
