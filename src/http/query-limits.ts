// Limits on the GraphQL documents the server accepts, all graphql-armor's: tokens (counted while the document is
// parsed), then depth, cost and aliases (validation rules). Every refusal is a top-level error with the code
// QUERY_TOO_COMPLEX and HTTP status 400.
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import type { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestErrorCode } from '../errors.js';
import { RequestError } from './request-error.js';

/**
 * Tokens in one document. GraphiQL's introspection query has 183 and the largest operation of the example clients
 * (with its fragments) under 200. armor counts tokens as graphql's recursive parser takes them, so a refused
 * document is parsed until its token past the limit: up to this many levels deep, as a list value nests one level
 * per token. graphql's parser overflows the stack at about 2,000 such levels (Node 20, default stack); 1,000 keeps
 * a refused 10,000-deep document at half that (a cold process with 60% of the default stack still refuses it).
 */
export const MAX_QUERY_TOKENS = 1000;

const TOO_COMPLEX: RequestErrorCode = 'QUERY_TOO_COMPLEX';

/** armor's onReject for depth, cost and aliases: their refusals (validation errors) come without a code. */
function tagTooComplex(_context: unknown, error: GraphQLError): void {
  Object.assign(error.extensions as Record<string, unknown>, { code: TOO_COMPLEX, http: { status: 400 } });
  // armor calls every refusal a syntax error; these are not.
  error.message = error.message.replace(/^Syntax Error: /, '');
}

/**
 * armor's onReject for tokens: throws a RequestError in place of armor's GraphQLError, which Yoga would take for a
 * syntax error and answer with 200 to a client that accepts application/json (the GraphQL-over-HTTP rule for those).
 */
function refuseTooManyTokens(_context: unknown, error: GraphQLError): never {
  throw new RequestError(TOO_COMPLEX, error.message.replace(/^Syntax Error: /, ''), 400);
}

export function queryLimitPlugins(limits: { maxDepth: number; maxCost: number; maxAliases: number }): Plugin[] {
  const onReject = [tagTooComplex];
  return [
    maxTokensPlugin({ n: MAX_QUERY_TOKENS, onReject: [refuseTooManyTokens] }),
    maxDepthPlugin({ n: limits.maxDepth, onReject }),
    costLimitPlugin({ maxCost: limits.maxCost, onReject }),
    maxAliasesPlugin({ n: limits.maxAliases, onReject }),
  ];
}
