// Which part of the server answers a request: /images to the image route, any other GET or HEAD to the web page
// (except Yoga's own paths), everything else to the GraphQL endpoint once its body is within the limit.
import type http from 'node:http';
import type { Log } from '../services.js';
import { limitRequestBody } from './body-limit.js';
import { clientRoute } from './client-route.js';
import { serveImages, type ImageRouteServices } from './image-route.js';
import type { GraphQLEndpoint } from './yoga.js';

export interface RouterOptions {
  yoga: GraphQLEndpoint;
  images: ImageRouteServices;
  /** The built web page. */
  clientDir: string;
  /** The most bytes of a GraphQL request body. */
  bodyLimit: number;
  log: Log;
  /** Where set, only requests whose Host it accepts are answered (the DNS-rebinding guard, cross-origin.ts). */
  allowedHost?: (host?: string) => boolean;
}

export function createRouter(options: RouterOptions): http.RequestListener {
  const { yoga, images, clientDir, bodyLimit, log, allowedHost } = options;
  const serveClient = clientRoute(clientDir);

  const failed = (route: string, response: http.ServerResponse) => (error: unknown) => {
    log(`${route}: ${error instanceof Error ? error.message : String(error)}`);
    if (!response.headersSent) response.writeHead(500).end();
    else response.destroy();
  };

  async function serveGraphQL(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (!(await limitRequestBody(request, response, bodyLimit))) return;
    // An answer sent before the body was read (an upload refused mid-stream) leaves the connection unusable for
    // the next request: close it instead of keeping it alive.
    response.once('finish', () => {
      if (!request.complete) request.socket.end();
    });
    await yoga(request, response);
  }

  return (request, response) => {
    // Every answer has the type it says: a browser must never sniff a stored image (or anything else) into HTML.
    response.setHeader('x-content-type-options', 'nosniff');
    if (allowedHost && !allowedHost(request.headers.host)) {
      const message = 'this server answers its own loopback address only (a page re-pointed at it is refused)';
      const body = JSON.stringify({ errors: [{ message, extensions: { code: 'FORBIDDEN' } }] });
      response.writeHead(403, { 'content-type': 'application/json', connection: 'close' }).end(body);
      request.resume();
      return;
    }
    if (request.url === '/images' || request.url?.startsWith('/images/')) {
      void serveImages(request, response, images).catch(failed('image route', response));
      return;
    }
    // Every other GET is the web page, except Yoga's own paths (GraphiQL and GET queries, its health check).
    const pathname = request.url?.split('?')[0] ?? '/';
    const isRead = request.method === 'GET' || request.method === 'HEAD';
    if (isRead && pathname !== yoga.graphqlEndpoint && pathname !== '/health') {
      void serveClient(request, response).catch(failed('client route', response));
      return;
    }
    void serveGraphQL(request, response).catch(failed('graphql', response));
  };
}
