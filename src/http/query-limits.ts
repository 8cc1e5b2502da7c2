// Limits on the GraphQL documents the server accepts: tokens (checked before parsing), depth and cost (checked
// after). Every refusal is a top-level error with the code QUERY_TOO_COMPLEX.
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { GraphQLError, Lexer, Source, TokenKind, type DocumentNode, type ParseOptions } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { RequestErrorCode } from '../errors.js';

/**
 * Tokens in one document. The largest operation of the example clients (with its fragments) and GraphiQL's
 * introspection query have under 200; 2,000 still allow the deepest query MAX_QUERY_DEPTH permits, and keep nesting
 * (at most ~700 levels) far below what overflows the stack of graphql's recursive parser (~2,000 levels).
 */
export const MAX_QUERY_TOKENS = 2000;

const TOO_COMPLEX: RequestErrorCode = 'QUERY_TOO_COMPLEX';

/** Depth and cost refusals get a code of their own. */
function tagTooComplex(_context: unknown, error: GraphQLError): void {
  (error.extensions as Record<string, unknown>).code = TOO_COMPLEX;
}

/** Whether the document has more than `max` tokens; counting stops at max + 1. */
function hasMoreTokens(source: string | Source, max: number): boolean {
  const lexer = new Lexer(typeof source === 'string' ? new Source(source) : source);
  try {
    for (let count = 0; lexer.advance().kind !== TokenKind.EOF; count++) if (count >= max) return true;
  } catch {
    // A syntax error: the parser reports it with its position.
  }
  return false;
}

/**
 * Refuses a document of more than maxTokens tokens before it is parsed: graphql's parser recurses once per level of
 * nesting, so a deep enough document (10,000 nested selection sets or list values) overflows the stack.
 */
function maxTokensPlugin(maxTokens: number): Plugin {
  return {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source: string | Source, options?: ParseOptions): DocumentNode => {
        if (hasMoreTokens(source, maxTokens)) {
          const extensions = { code: TOO_COMPLEX, http: { status: 400 } };
          throw new GraphQLError(`the document has more than ${maxTokens} tokens`, { extensions });
        }
        return parseFn(source, options) as DocumentNode;
      });
    },
  };
}

export function queryLimitPlugins(limits: { maxDepth: number; maxCost: number }): Plugin[] {
  return [
    maxTokensPlugin(MAX_QUERY_TOKENS),
    maxDepthPlugin({ n: limits.maxDepth, onReject: [tagTooComplex] }),
    costLimitPlugin({ maxCost: limits.maxCost, onReject: [tagTooComplex] }),
  ];
}
