// The schema's typed errors (every result type implementing Error { code message }, InputError with field and
// validValues) as one line of text. Shared by the web page and the scripts, like operations.ts.

/** A typed error result (anything implementing the schema's Error interface), as the operations select it. */
export interface TypedError {
  __typename: string;
  code: string;
  message: string;
  field?: string;
  validValues?: string | null;
}

/**
 * One line naming the code, the offending field and what would have been accepted (the server's message may already
 * hold them).
 */
export function describeError(error: TypedError): string {
  return `${error.code} ${errorDetail(error)}`;
}

/** The same without the code. */
export function errorDetail(error: TypedError): string {
  const field = error.field && !error.message.startsWith(`${error.field}:`) ? `${error.field}: ` : '';
  const valid = error.validValues && !error.message.includes(error.validValues) ? ` (valid: ${error.validValues})` : '';
  return `${field}${error.message}${valid}`;
}
