// Refusals of a request as a whole, before any resolver runs: the body is over the limit, or it cannot be read.
// They reach the client as top-level errors with a code and an HTTP status (see mask-error.ts).
import type { RequestErrorCode } from '../errors.js';

export class RequestError extends Error {
  constructor(
    readonly code: RequestErrorCode,
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
