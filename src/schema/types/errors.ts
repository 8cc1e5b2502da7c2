// Typed errors: every expected failure is a result type with a code; clients can match on `... on Error`.
// Each mutation's result union names only the error types that mutation can return (see its `errors.types`).
import {
  type ClientError,
  ConflictError,
  ERROR_CODES,
  ImageTooLargeError,
  InputError,
  NotFoundError,
  QuotaExceededError,
  UnavailableError,
} from '../../errors.js';
import { builder } from '../builder.js';

export const ErrorCodeEnum = builder.enumType('ErrorCode', { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<ClientError>('Error').implement({
  description: 'An expected failure: nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCodeEnum, resolve: (error) => error.code }),
  }),
});

builder.objectType(InputError, {
  name: 'InputError',
  description: 'A parameter is out of range, malformed, or not an image.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InputError,
  fields: (t) => ({
    field: t.exposeString('field', { description: 'The offending input, e.g. params.size or styles[1].weight.' }),
    validValues: t.exposeString('validValues', { nullable: true, description: 'What would have been accepted.' }),
  }),
});

builder.objectType(ImageTooLargeError, {
  name: 'ImageTooLargeError',
  description: 'An upload over the byte or pixel limit.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ImageTooLargeError,
  fields: (t) => ({
    field: t.exposeString('field'),
    limit: t.exposeFloat('limit', { description: 'The limit that was exceeded (bytes or pixels).' }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'An id that names nothing.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
  fields: (t) => ({
    // Not `id`/`type`: those would clash with the fields of the success types in the same result union.
    missingType: t.exposeString('type', { description: 'The type the id was expected to name.' }),
    missingId: t.exposeString('id'),
  }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'Valid, but not now: a name already taken, a style a queued run needs, a run already finished.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
  fields: () => ({}),
});

builder.objectType(UnavailableError, {
  name: 'UnavailableError',
  description: 'Valid, but something it needs cannot be had now: a style model not on disk that cannot be downloaded.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnavailableError,
  fields: () => ({}),
});

builder.objectType(QuotaExceededError, {
  name: 'QuotaExceededError',
  description: 'The owner already has as many runs queued as allowed: wait for one to start, or cancel one.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof QuotaExceededError,
  fields: (t) => ({
    limit: t.exposeInt('limit', { description: 'The most runs one owner may have queued.' }),
  }),
});
