// The Pothos schema builder and its plugins: Prisma-backed object types, Relay global ids and connections, typed
// error results, and input validation.
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ValidationPlugin, { InputValidationError } from '@pothos/plugin-validation';
import { ConflictError, ImageTooLargeError, InputError, NotFoundError } from '../errors.js';
import type PrismaTypes from '../storage/generated/pothos-types.ts';
import { getDatamodel } from '../storage/generated/pothos-types.ts';
import type { Context } from './context.js';

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    File: { Input: File; Output: never };
  };
  DefaultFieldNullability: false;
  DefaultInputFieldRequiredness: true;
}>({
  plugins: [ErrorsPlugin, ValidationPlugin, PrismaPlugin, RelayPlugin],
  defaultFieldNullability: false,
  defaultInputFieldRequiredness: true,
  prisma: {
    client: (context) => context.db,
    dmmf: getDatamodel(),
    exposeDescriptions: true,
    filterConnectionTotalCount: true,
  },
  relay: {},
  errors: {
    // Every mutation can answer with these; fields add their own where they need more.
    defaultTypes: [InputError, ImageTooLargeError, NotFoundError, ConflictError, InputValidationError],
    directResult: true,
    // Validation failures come back as typed InputValidationError results rather than top-level errors.
    unsafelyHandleInputErrors: true,
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO 8601 date and time.',
  serialize: (date) => date.toISOString(),
  parseValue: (value) => {
    const date = new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError(`"${String(value)}" is not an ISO 8601 date`);
    return date;
  },
});

builder.scalarType('File', {
  description: 'A file sent in a multipart request (GraphQL multipart request specification).',
  serialize: () => {
    throw new TypeError('File is an input type');
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
