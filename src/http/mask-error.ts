// The one place that decides what a client sees of an error outside a typed result.
import { GraphQLError } from 'graphql';
import { AuthUnavailableError } from '../auth/auth-error.js';
import { AccessError, ClientError, type RequestErrorCode } from '../errors.js';
import type { Log } from '../services.js';
import { RequestError } from './request-error.js';

/**
 * By name rather than instanceof: graphql 16 ships a CommonJS and an ES build, and a test runner or bundler can
 * load both, each with its own GraphQLError class.
 */
export function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/** The error at the bottom of a chain of wrapped GraphQL errors. */
function innermost(error: unknown): unknown {
  let current = error;
  while (isGraphQLError(current) && current.originalError) current = current.originalError;
  return current;
}

/**
 * Errors outside a typed result: the client's own mistakes (a refused request, bad request, validation, a
 * ClientError thrown in a subscription) keep their message and get a code; anything unexpected is logged and reaches
 * the client as a bare INTERNAL error.
 */
export function maskError(log: Log) {
  return (error: unknown): Error => {
    const original = innermost(error);
    const path = isGraphQLError(error) ? error.path : undefined;
    if (original instanceof ClientError) {
      return new GraphQLError(original.message, { path, extensions: { code: original.code } });
    }
    if (original instanceof AccessError) {
      return new GraphQLError(original.message, {
        path,
        extensions: { code: original.code, http: { status: original.status } },
      });
    }
    if (original instanceof AuthUnavailableError) {
      const extensions = { code: 'UNAVAILABLE' satisfies RequestErrorCode, http: { status: 503 } };
      return new GraphQLError(original.message, { extensions });
    }
    if (original instanceof RequestError) {
      const extensions = { code: original.code, http: { status: original.status } };
      return new GraphQLError(original.message, { extensions });
    }
    if (isGraphQLError(original)) {
      // Yoga's own refusals (a malformed body, a query that does not parse or validate) come without a code.
      const graphqlError = error as GraphQLError;
      if (graphqlError.extensions?.code !== undefined) return graphqlError;
      return new GraphQLError(graphqlError.message, {
        nodes: graphqlError.nodes,
        source: graphqlError.source,
        positions: graphqlError.positions,
        path: graphqlError.path,
        originalError: graphqlError.originalError,
        extensions: { ...graphqlError.extensions, code: 'BAD_REQUEST' satisfies RequestErrorCode },
      });
    }
    log(`internal error: ${original instanceof Error ? (original.stack ?? original.message) : String(original)}`);
    return new GraphQLError('internal server error', {
      path,
      extensions: { code: 'INTERNAL' satisfies RequestErrorCode },
    });
  };
}
