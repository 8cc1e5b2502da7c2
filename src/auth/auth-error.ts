// The errors of authentication: a request refused for its credentials (401), one that cannot be checked because the
// identity provider is unreachable (503), and a mistake in what an API key is created or revoked with.
import { AccessError, InputError } from '../errors.js';

/**
 * Credentials are required but missing, or given but wrong. The message says which, never echoing a credential.
 * An AccessError, so the HTTP layer answers it as the other refusals: `extensions.code` UNAUTHENTICATED, HTTP 401.
 */
export class AuthError extends AccessError {
  declare readonly code: 'UNAUTHENTICATED';
  declare readonly status: 401;
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

/**
 * A token could not be checked: the identity provider's key set (AUTH_JWKS_URL) did not answer, or answered
 * something that is not a key set. The server's problem, not the client's: retry later.
 */
export class AuthUnavailableError extends Error {
  readonly code = 'UNAVAILABLE';
  readonly status = 503;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AuthUnavailableError';
  }
}

/** A key's name, owner or scopes are wrong, or the key to revoke does not exist: `field` names what to fix. */
export class KeyInputError extends InputError {
  constructor(
    field: string,
    /** The message without the field and valid values. */
    readonly detail: string,
    validValues?: string,
  ) {
    super(field, detail, validValues);
  }
}
