// The HTTP server: GraphQL (queries, mutations, uploads, SSE subscriptions) and GraphiQL at /graphql through
// graphql-yoga, graphql-ws on the same port and path, the image files at /images/:sha256, and the web page at /.
import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { createFetch } from '@whatwg-node/fetch';
import { GraphQLError, type execute, type subscribe } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Config } from './config.js';
import { ClientError } from './errors.js';
import { seedBuiltInPresets } from './domain/presets.js';
import { RunManager } from './domain/run-manager.js';
import { seedCatalogueModels, type StyleModelServices } from './domain/style-models.js';
import { createTopics } from './domain/topics.js';
import { Engine } from './engine/index.js';
import type { Services } from './schema/context.js';
import { schema } from './schema/index.js';
import { openDatabase } from './storage/db.js';
import { clientRoute } from './http/client-route.js';
import { serveImages } from './http/image-route.js';
import { ImageStore } from './storage/image-store.js';

export interface GramianServer {
  url: string;
  services: Services;
  /** Stops accepting, checkpoints running steps, closes the engine and the database. */
  close(): Promise<void>;
}

type Log = (message: string) => void;
type EnvelopedRoot = { execute: typeof execute; subscribe: typeof subscribe };

/**
 * By name rather than instanceof: graphql 16 ships a CommonJS and an ES build, and a test runner or bundler can
 * load both, each with its own GraphQLError class.
 */
function isGraphQLError(error: unknown): error is GraphQLError {
  return error instanceof Error && error.name === 'GraphQLError';
}

/** The error at the bottom of a chain of wrapped GraphQL errors. */
function innermost(error: unknown): unknown {
  let current = error;
  while (isGraphQLError(current) && current.originalError) current = current.originalError;
  return current;
}

/**
 * Errors outside a typed result: the client's own mistakes (bad request, validation, a ClientError thrown in a
 * subscription) keep their message and get a code; anything unexpected is logged and reaches the client as a bare
 * INTERNAL error.
 */
function maskError(log: Log) {
  return (error: unknown): Error => {
    const original = innermost(error);
    const path = isGraphQLError(error) ? error.path : undefined;
    if (original instanceof ClientError) return new GraphQLError(original.message, { path, extensions: { code: original.code } });
    if (original instanceof Error && /File size limit exceeded/.test(original.message)) {
      return new GraphQLError(original.message, { extensions: { code: 'IMAGE_TOO_LARGE', http: { status: 413 } } });
    }
    if (isGraphQLError(original)) {
      // Yoga's own refusals (a malformed body, a query that does not parse or validate) come without a code.
      const graphqlError = error as GraphQLError;
      if (graphqlError.extensions?.code !== undefined) return graphqlError;
      return new GraphQLError(graphqlError.message, { nodes: graphqlError.nodes, source: graphqlError.source, positions: graphqlError.positions, path: graphqlError.path, originalError: graphqlError.originalError, extensions: { ...graphqlError.extensions, code: 'BAD_REQUEST' } });
    }
    log(`internal error: ${original instanceof Error ? (original.stack ?? original.message) : String(original)}`);
    return new GraphQLError('internal server error', { path, extensions: { code: 'INTERNAL' } });
  };
}

/** Depth and cost refusals get a code of their own. */
function tagTooComplex(_context: unknown, error: GraphQLError): void {
  (error.extensions as Record<string, unknown>).code = 'QUERY_TOO_COMPLEX';
}

/** Refuses a request body far over the upload limit before reading it, and closes the connection after. */
function tooLarge(request: http.IncomingMessage, response: http.ServerResponse, limit: number): boolean {
  const length = Number(request.headers['content-length'] ?? 0);
  if (length <= limit) return false;
  const body = JSON.stringify({ errors: [{ message: `request body of ${length} bytes is over the limit of ${limit}`, extensions: { code: 'IMAGE_TOO_LARGE' } }] });
  response.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(body);
  request.resume();
  return true;
}

export async function startServer(config: Config, log: Log = (message) => console.error(`[gramian] ${message}`)): Promise<GramianServer> {
  await mkdir(config.imagesDir, { recursive: true });
  const database = await openDatabase(config.databaseUrl);
  const db = database.prisma;
  await seedCatalogueModels(db);
  await seedBuiltInPresets(db);
  const engine = await Engine.start({
    workers: config.engineWorkers,
    backend: config.backend,
    ...(config.wasmThreads ? { threads: config.wasmThreads } : {}),
    ...(config.weightsDir ? { weightsDir: config.weightsDir } : {}),
    allowDownload: config.allowWeightsDownload,
    log: (message) => log(`engine: ${message}`),
  });
  const engineInfo = await engine.info();
  const images = new ImageStore(db, config.imagesDir, { maxBytes: config.maxUploadBytes, maxPixels: config.maxImagePixels });
  const topics = createTopics();
  const styleModels: StyleModelServices = {
    db,
    images,
    engine,
    modelsDir: path.join(config.dataDir, 'models'),
    allowDownload: config.allowWeightsDownload,
    env: { ...process.env, ...(config.modelsFolder ? { GRAMIAN_MODELS: config.modelsFolder } : {}) },
  };
  const runs = new RunManager({ db, images, engine, topics, capacity: config.engineWorkers, backend: engineInfo.backend, models: styleModels, log });
  const services: Services = { config, db, images, engine, engineInfo, runs, topics, styleModels };

  const yoga = createYoga({
    schema,
    context: () => services,
    graphqlEndpoint: '/graphql',
    graphiql: { subscriptionsProtocol: 'WS', title: 'Gramian' },
    // GraphiQL served from the package, not a CDN: it works offline and leaks nothing.
    renderGraphiQL,
    maskedErrors: { maskError: maskError(log) },
    logging: false,
    // The parser stops absurd uploads early; sizes up to twice the limit reach the resolver for a typed error.
    fetchAPI: createFetch({ formDataLimits: { fileSize: 2 * config.maxUploadBytes, files: 10, fieldSize: 1024 * 1024 } }),
    plugins: [
      maxDepthPlugin({ n: config.maxQueryDepth, onReject: [tagTooComplex] }),
      costLimitPlugin({ maxCost: config.maxQueryCost, onReject: [tagTooComplex] }),
    ],
  });

  const serveClient = clientRoute(config.clientDir);
  const server = http.createServer((request, response) => {
    if (request.url === '/images' || request.url?.startsWith('/images/')) {
      void serveImages(request, response, images).catch((error: unknown) => {
        log(`image route: ${(error as Error).message}`);
        if (!response.headersSent) response.writeHead(500).end();
      });
      return;
    }
    // Every other GET is the web page, except Yoga's own paths (GraphiQL and GET queries, its health check).
    const pathname = request.url?.split('?')[0] ?? '/';
    if ((request.method === 'GET' || request.method === 'HEAD') && pathname !== yoga.graphqlEndpoint && pathname !== '/health') {
      void serveClient(request, response).catch((error: unknown) => {
        log(`client route: ${(error as Error).message}`);
        if (!response.headersSent) response.writeHead(500).end();
        else response.destroy();
      });
      return;
    }
    // Room for the multipart overhead and the other fields around a file of up to twice the upload limit.
    if (tooLarge(request, response, 2 * config.maxUploadBytes + 64 * 1024)) return;
    // An answer sent before the body was read (an upload refused mid-stream) leaves the connection unusable for
    // the next request: close it instead of keeping it alive.
    response.once('finish', () => {
      if (!request.complete) request.socket.end();
    });
    void yoga(request, response);
  });

  // graphql-ws on the same port and path, executed through the same Yoga pipeline (plugins, limits, masking).
  const sockets = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const socketServer = useServer(
    {
      // onSubscribe puts Yoga's own execute and subscribe in rootValue.
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onSubscribe: async (context, _id, params) => {
        const enveloped = yoga.getEnveloped({ ...context, req: context.extra.request, socket: context.extra.socket, params });
        const args = {
          schema: enveloped.schema,
          operationName: params.operationName,
          document: enveloped.parse(params.query),
          variableValues: params.variables,
          contextValue: await enveloped.contextFactory(),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        const errors = enveloped.validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        return args;
      },
    },
    sockets,
  );

  await runs.recover();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      server.close();
      await runs.shutdown(config.shutdownTimeoutMs);
      await socketServer.dispose();
      server.closeAllConnections();
      await engine.close();
      await database.close();
    })());
  return { url, services, close };
}
