// graphql-ws on the GraphQL endpoint's port and path, executed through Yoga's envelop pipeline (the same plugins,
// limits and error masking as over HTTP), as in graphql-yoga's own graphql-ws example.
import type http from 'node:http';
import type { DocumentNode, ExecutionArgs, GraphQLError, GraphQLSchema, execute, subscribe } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import type { Context as GraphQLWsContext } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import { AccessError } from '../errors.js';
import { socketOriginAllowed } from './cross-origin.js';
import { isGraphQLError } from './mask-error.js';
import { RequestError } from './request-error.js';
import type { GraphQLEndpoint } from './yoga.js';

type EnvelopedRoot = { execute: typeof execute; subscribe: typeof subscribe };

/**
 * An error as a graphql-ws message carries it: masked like an HTTP answer, without the HTTP status. Built by
 * graphql-yoga's createGraphQLError so that it is an instance of the GraphQLError class graphql-ws checks for, which
 * a test runner may load from another build of graphql than this file's.
 */
function forSocket(mask: (error: unknown) => Error, error: unknown): GraphQLError {
  const masked = mask(error) as GraphQLError;
  const { http: _status, ...extensions } = masked.extensions ?? {};
  const { nodes, source, positions } = masked;
  return createGraphQLError(masked.message, { nodes, source, positions, extensions });
}

/** What a socket carries from its opening: its request, and who authenticated on it. */
export type SocketExtra = Extra & { principal?: Principal } & Record<PropertyKey, unknown>;
export type SocketContext = GraphQLWsContext<Record<string, unknown> | undefined, SocketExtra>;

/** Serves graphql-ws on `server`; the answer's dispose() closes every socket. */
export function attachGraphQLWs(
  server: http.Server,
  yoga: GraphQLEndpoint,
  mask: (error: unknown) => Error,
  auth: Authenticator,
  /** CORS_ORIGINS: the other origins whose pages may open a socket. */
  corsOrigins: readonly string[],
  /** The DNS-rebinding guard on the upgrade's Host, where it applies (cross-origin.ts). */
  allowedHost?: (host?: string) => boolean,
) {
  const sockets = new WebSocketServer({
    server,
    path: yoga.graphqlEndpoint,
    // A page of another origin may not open a socket: refused at the upgrade with HTTP 403, before graphql-ws sees
    // it, so nothing runs (a browser reports a failed connection, close code 1006). Clients other than browsers send
    // no Origin and are let through, to authenticate in onConnect.
    verifyClient: ({ origin, req }, done) => {
      if (allowedHost && !allowedHost(req.headers.host)) return done(false, 403, 'not this server’s own address');
      if (socketOriginAllowed(corsOrigins, origin, req.headers.host)) return done(true);
      done(false, 403, 'a page of this origin may not open a socket here (see CORS_ORIGINS)');
    },
  });
  return useServer<Record<string, unknown> | undefined, SocketExtra>(
    {
      // Credentials come once, in connectionParams.authorization; without valid ones (where they are needed) the
      // socket closes with 4403 before any operation.
      onConnect: async (context) => {
        const authorization = context.connectionParams?.authorization;
        try {
          context.extra.principal = await auth.authenticate(typeof authorization === 'string' ? authorization : null);
          return true;
        } catch (error) {
          if (error instanceof AccessError) return false;
          throw error;
        }
      },
      // onSubscribe puts Yoga's own execute and subscribe in rootValue.
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (context, _id, params) => {
        const { request, socket } = context.extra;
        const enveloped = yoga.getEnveloped({ ...context, req: request, socket, params });
        let document: DocumentNode;
        try {
          document = enveloped.parse(params.query) as DocumentNode;
        } catch (error) {
          // A document refused by the parser or its limits: an error message to the client, the socket stays open.
          if (isGraphQLError(error) || error instanceof RequestError) return [forSocket(mask, error)];
          throw error;
        }
        // envelop types graphql's functions loosely (any), to fit any graphql build: these are graphql's own.
        const schema = enveloped.schema as GraphQLSchema;
        let errors: readonly GraphQLError[];
        try {
          errors = enveloped.validate(schema, document) as readonly GraphQLError[];
        } catch (error) {
          // The depth, cost and alias limits throw their refusal rather than return it.
          if (isGraphQLError(error)) return [forSocket(mask, error)];
          throw error;
        }
        if (errors.length > 0) return errors.map((error: unknown) => forSocket(mask, error));
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        return args;
      },
    },
    sockets,
  );
}
