// The GraphQL endpoint: graphql-yoga over the schema, with the query limits, typed refusals of unreadable multipart
// requests, central error masking (mask-error.ts) and GraphiQL. The router holds request bodies to the body limit.
import { createFetch } from '@whatwg-node/fetch';
import { createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { schema } from '../schema/index.js';
import type { Context, Services } from '../schema/context.js';
import type { SocketContext } from './graphql-ws.js';
import { multipartErrorsPlugin } from './multipart-errors.js';
import { queryLimitPlugins } from './query-limits.js';

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
    graphiql: { subscriptionsProtocol: 'WS', title: 'Gramian' },
    // GraphiQL served from the package, not a CDN: it works offline and leaks nothing.
    renderGraphiQL,
    maskedErrors: { maskError: options.maskError },
    logging: false,
    // No file can be larger than the body the router lets through, so files of any size the body allows reach the
    // resolvers, which refuse one over the upload limit with a typed ImageTooLargeError.
    fetchAPI: createFetch({ formDataLimits: { fileSize: options.bodyLimit, files: 10, fieldSize: 1024 * 1024 } }),
    plugins: [
      multipartErrorsPlugin(),
      ...queryLimitPlugins({ maxDepth: config.maxQueryDepth, maxCost: config.maxQueryCost }),
    ],
  });
}

export type GraphQLEndpoint = ReturnType<typeof createGraphQLEndpoint>;
