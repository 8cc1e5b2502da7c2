// The HTTP server: GraphQL (queries, mutations, uploads, SSE subscriptions) and GraphiQL at /graphql through
// graphql-yoga, graphql-ws on the same port and path, the image files at /images/:sha256, the web page at /, and
// /health, /ready and /metrics. A cluster worker (GRAMIAN_ROLE=worker) serves only the last three. Each part is built
// in its own module; this one composes them and owns the order of start and shutdown.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.js';
import { requestBodyLimit } from './http/body-limit.js';
import { loopbackHostGuard } from './http/cross-origin.js';
import { attachGraphQLWs } from './http/graphql-ws.js';
import { maskError } from './http/mask-error.js';
import { operationsRoute } from './http/operations.js';
import { createRouter } from './http/router.js';
import { createGraphQLEndpoint } from './http/yoga.js';
import type { Services } from './schema/context.js';
import { createServices, type Log } from './services.js';

export interface GramianServer {
  url: string;
  services: Services;
  /** Stops accepting, checkpoints running steps, closes the engine and the database. */
  close(): Promise<void>;
}

const logToStderr: Log = (message) => console.error(`[gramian] ${message}`);

export async function startServer(config: Config, log: Log = logToStderr): Promise<GramianServer> {
  const running = await createServices(config, log);
  const { services } = running;
  const operations = operationsRoute({
    checks: running.readiness,
    metrics: () => running.metrics.render(services.db, config.role, running.worker?.running),
    log,
  });
  let server: http.Server;
  let sockets: { dispose(): void | Promise<void> } | undefined;
  if (config.role === 'worker') {
    server = http.createServer((request, response) => {
      if (!operations(request, response)) response.writeHead(404, { 'content-type': 'text/plain' }).end('a worker\n');
    });
  } else {
    const mask = maskError(log);
    const bodyLimit = requestBodyLimit(config.maxUploadBytes);
    const yoga = createGraphQLEndpoint(services, { bodyLimit, maskError: mask });
    const allowedHost = loopbackHostGuard(services.auth.required, config.host);
    const router = createRouter({ yoga, images: services, clientDir: config.clientDir, bodyLimit, log, allowedHost });
    server = http.createServer((request, response) => {
      if (!operations(request, response)) router(request, response);
    });
    sockets = attachGraphQLWs(server, yoga, mask, services.auth, config.corsOrigins, allowedHost);
  }

  try {
    await services.runs.recover();
    await running.worker?.ready();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (error) {
    await running.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  // Collections of expired runs and unreferenced images (domain/retention.ts), from now on, where the API is served.
  if (config.role !== 'worker') services.retention.start(config.gcIntervalSeconds * 1000);
  const url = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      server.close();
      // Waits for a collection in progress (it stops at its next batch) while the runs stop.
      await Promise.all([services.retention.stop(), services.runs.shutdown(config.shutdownTimeoutMs)]);
      await sockets?.dispose();
      server.closeAllConnections();
      await running.close();
    })());
  return { url, services, close };
}
