// The GraphQL endpoint: graphql-yoga over the schema, with the query limits, the mutation rate limit, typed refusals
// of unreadable multipart requests, central error masking (mask-error.ts), CSRF prevention and CORS for listed origins
// only (cross-origin.ts), and GraphiQL. The router holds request bodies to the body limit.
import { createFetch } from '@whatwg-node/fetch';
import { createYoga } from 'graphql-yoga';
import { schema } from '../schema/index.js';
import type { Context, Services } from '../schema/context.js';
import { corsOptions, CSRF_HEADER, csrfPlugin } from './cross-origin.js';
import { renderGramianGraphiQL } from './graphiql.js';
import type { SocketContext } from './graphql-ws.js';
import { multipartErrorsPlugin } from './multipart-errors.js';
import { queryLimitPlugins } from './query-limits.js';
import { rateLimitPlugin } from './rate-limit.js';

export interface YogaOptions {
  /** The most bytes of a request body (see body-limit.ts), which the router enforces before Yoga reads it. */
  bodyLimit: number;
  maskError: (error: unknown) => Error;
}

export function createGraphQLEndpoint(services: Services, options: YogaOptions) {
  const { config } = services;
  return createYoga<object, Context>({
    schema,
    // A new context per request, with who is asking: from graphql-ws's connection (authenticated once, when it
    // opened), or from this request's Authorization header. No valid credentials where they are needed: 401.
    context: async (initial: Partial<SocketContext> & { request: Request }) => {
      if (initial.extra) {
        // onConnect set it, or refused the socket.
        if (!initial.extra.principal) throw new Error('a graphql-ws socket without a principal');
        return { ...services, principal: initial.extra.principal };
      }
      return { ...services, principal: await services.auth.authenticate(initial.request.headers.get('authorization')) };
    },
    graphqlEndpoint: '/graphql',
    graphiql: { subscriptionsProtocol: 'WS', title: 'Gramian', additionalHeaders: { [CSRF_HEADER]: '1' } },
    // GraphiQL served from the package, not a CDN: it works offline and leaks nothing. It asks for an API key where
    // the server needs one.
    renderGraphiQL: renderGramianGraphiQL,
    // CORS headers only for the origins in CORS_ORIGINS; by default none: same origin only (cross-origin.ts).
    cors: corsOptions(config.corsOrigins),
    maskedErrors: { maskError: options.maskError },
    logging: false,
    // No file can be larger than the body the router lets through, so files of any size the body allows reach the
    // resolvers, which refuse one over the upload limit with a typed ImageTooLargeError.
    fetchAPI: createFetch({ formDataLimits: { fileSize: options.bodyLimit, files: 10, fieldSize: 1024 * 1024 } }),
    plugins: [
      // First: a request a foreign page could have sent is refused before anything reads it.
      csrfPlugin(),
      multipartErrorsPlugin(),
      ...queryLimitPlugins({
        maxDepth: config.maxQueryDepth,
        maxCost: config.maxQueryCost,
        maxAliases: config.maxQueryAliases,
      }),
      rateLimitPlugin(config.rateLimitMutations),
    ],
  });
}

export type GraphQLEndpoint = ReturnType<typeof createGraphQLEndpoint>;
