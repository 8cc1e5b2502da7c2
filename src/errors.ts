// Errors a client can cause and should be told about, each with a stable code. The GraphQL layer returns them as
// typed results (src/schema/types/errors.ts); anything else is masked as an internal error.

/** The codes of typed results: the GraphQL ErrorCode enum is built from this list. */
export const ERROR_CODES = [
  'INVALID_INPUT',
  'NOT_AN_IMAGE',
  'IMAGE_TOO_LARGE',
  'NOT_FOUND',
  'CONFLICT',
  'UNAVAILABLE',
  'QUOTA_EXCEEDED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The codes of top-level errors (`errors[].extensions.code`): a request refused as a whole before any resolver ran,
 * or an unexpected failure masked as INTERNAL. GRAPHQL_PARSE_FAILED and GRAPHQL_VALIDATION_FAILED are Yoga's own.
 */
export const REQUEST_ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'IMAGE_TOO_LARGE',
  'QUERY_TOO_COMPLEX',
  'INTERNAL',
] as const;
export type RequestErrorCode = (typeof REQUEST_ERROR_CODES)[number];

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

/** Valid, but something it needs cannot be had now: a style model that is not on disk and cannot be downloaded. */
export class UnavailableError extends ClientError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/** The owner already has as many runs queued as allowed (MAX_QUEUED_RUNS_PER_OWNER); `limit` says how many. */
export class QuotaExceededError extends ClientError {
  constructor(readonly limit: number) {
    super(
      'QUOTA_EXCEEDED',
      `you already have ${limit} runs queued, the most allowed: start more once some have started, or cancel one`,
    );
  }
}

/**
 * Refused because of who is asking, as a top-level error: no valid credentials (UNAUTHENTICATED, HTTP 401), or
 * credentials without the scope, or a shared row only an admin may change (FORBIDDEN, HTTP 403).
 */
export class AccessError extends Error {
  readonly status: number;

  constructor(
    readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN',
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
    this.status = code === 'UNAUTHENTICATED' ? 401 : 403;
  }
}
