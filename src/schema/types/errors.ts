// Typed errors: every expected failure is a result type with a code; clients can match on `... on Error`.
import { InputValidationError } from '@pothos/plugin-validation';
import { ClientError, ConflictError, ImageTooLargeError, InputError, NotFoundError, type ErrorCode } from '../../errors.js';
import { builder } from '../builder.js';

export const ErrorCodeEnum = builder.enumType('ErrorCode', {
  values: ['INVALID_INPUT', 'NOT_AN_IMAGE', 'IMAGE_TOO_LARGE', 'NOT_FOUND', 'CONFLICT', 'ENGINE_UNAVAILABLE'] as const satisfies readonly ErrorCode[],
});

export const ErrorInterface = builder.interfaceRef<ClientError | InputValidationError>('Error').implement({
  description: 'An expected failure: nothing was changed.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCodeEnum, resolve: (error) => (error instanceof ClientError ? error.code : 'INVALID_INPUT') }),
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

const InputValidationIssue = builder.objectRef<InputValidationError['issues'][number]>('InputValidationIssue').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    path: t.stringList({ resolve: (issue) => issue.path?.map((part) => String(typeof part === 'object' ? part.key : part)) ?? [] }),
  }),
});

builder.objectType(InputValidationError, {
  name: 'InputValidationError',
  description: 'Arguments that failed validation before anything ran.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InputValidationError,
  fields: (t) => ({
    issues: t.field({ type: [InputValidationIssue], resolve: (error) => error.issues }),
  }),
});
