// /images: GET /images/<sha256> serves stored bytes with their type, a strong ETag (the hash) and immutable
// caching, since an id always names the same bytes. POST /images stores a raw image body (same checks and limits
// as a GraphQL upload) and answers its id, for clients that cannot send multipart requests, GraphiQL users included.
// Who may: a signed URL from GraphQL reads its image until it expires; otherwise the Authorization header says who
// asks, and one reads only images one owns (another owner's is "not found"). Where credentials are needed, an
// unsigned or expired URL without a header is refused with 403. A POST whose body a page of another site could send
// (untyped, form or text) needs the GraphQL-Require-Preflight header, and only listed origins get CORS headers
// (cross-origin.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Authenticator } from '../auth/authenticator.js';
import type { ImageUrls } from '../auth/image-urls.js';
import { can, type Principal } from '../auth/principal.js';
import { readersFor } from '../domain/owners.js';
import type { Config } from '../config.js';
import { AccessError, ClientError } from '../errors.js';
import type { ImageStore } from '../storage/image-store.js';
import { csrfRefusal, imageCorsHeaders, isUnguardedPost } from './cross-origin.js';

export interface ImageRouteServices {
  images: ImageStore;
  auth: Authenticator;
  imageUrls: ImageUrls;
  /** CORS_ORIGINS: the other origins whose pages may use the route (see cross-origin.ts). */
  config: Pick<Config, 'corsOrigins'>;
}

const SHA256 = /^\/images\/([0-9a-f]{64})$/;

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage, limit: number): Promise<Uint8Array | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function refuse(response: ServerResponse, error: AccessError): void {
  json(response, error.status, { error: { code: error.code, message: error.message } });
}

async function upload(
  request: IncomingMessage,
  response: ServerResponse,
  { images, imageUrls }: ImageRouteServices,
  principal: Principal,
): Promise<void> {
  // Images are stored for runs (content) and styles: either scope will do.
  if (!can(principal, 'run') && !can(principal, 'manage')) {
    response.setHeader('connection', 'close');
    return refuse(response, new AccessError('FORBIDDEN', 'storing images needs the run or manage scope'));
  }
  const bytes = await readBody(request, images.limits.maxBytes);
  if (!bytes) {
    response.setHeader('connection', 'close');
    json(response, 413, {
      error: { code: 'IMAGE_TOO_LARGE', message: `body is more than the limit of ${images.limits.maxBytes} bytes` },
    });
    return;
  }
  try {
    const image = await images.save(await images.check(bytes, 'body'), principal.owner);
    json(response, 201, {
      id: encodeGlobalID('Image', image.id),
      sha256: image.id,
      url: imageUrls.url(image.id),
      mime: image.mime,
      width: image.width,
      height: image.height,
    });
  } catch (error) {
    if (!(error instanceof ClientError)) throw error;
    json(response, error.code === 'IMAGE_TOO_LARGE' ? 413 : 400, {
      error: { code: error.code, message: error.message },
    });
  }
}

/**
 * Who may read `id` with this request: a valid signature lets anyone (`undefined`: no owner filter) with the cache
 * lifetime it has left; otherwise the request's principal (from its header, or the local user where none is needed).
 */
async function reader(
  request: IncomingMessage,
  url: URL,
  id: string,
  { auth, imageUrls }: ImageRouteServices,
): Promise<{ owners: string[] | undefined; cacheControl: string }> {
  const signed = imageUrls.check(id, url.searchParams.get('exp'), url.searchParams.get('sig'));
  if (signed === 'valid') {
    const seconds = imageUrls.secondsLeft(url.searchParams.get('exp')!);
    // Where credentials are needed, only the browser that holds the URL may keep the bytes, and not past it.
    const scope = auth.required ? 'private' : 'public';
    return { owners: undefined, cacheControl: `${scope}, max-age=${seconds}, immutable` };
  }
  const authorization = request.headers.authorization;
  if (auth.required && !authorization) {
    const why = signed === 'unsigned' ? 'an image URL needs its signature' : `the image URL is ${signed}`;
    throw new AccessError('FORBIDDEN', `${why}; read the image's url from GraphQL again, or send credentials`);
  }
  const principal = await auth.authenticate(authorization);
  if (!can(principal, 'read')) throw new AccessError('FORBIDDEN', 'reading images needs the read scope');
  const cacheControl = auth.required ? 'private, max-age=3600' : 'public, max-age=31536000, immutable';
  return { owners: readersFor(principal), cacheControl };
}

export async function serveImages(
  request: IncomingMessage,
  response: ServerResponse,
  services: ImageRouteServices,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const { pathname } = url;
  for (const [name, value] of Object.entries(imageCorsHeaders(services.config.corsOrigins, request)))
    response.setHeader(name, value);
  if (request.method === 'OPTIONS') {
    // A preflight: the headers above say whether the page's origin may go on (none for an unlisted one).
    response.writeHead(204, { allow: 'GET, HEAD, POST', 'content-length': '0' }).end();
    return;
  }
  if (request.method === 'POST' && pathname === '/images') {
    if (isUnguardedPost(request.headers)) {
      // Refused unread, before anything else: a page of another site could have sent it.
      const refusal = csrfRefusal();
      response.setHeader('connection', 'close');
      return json(response, refusal.status, { error: { code: refusal.code, message: refusal.message } });
    }
    let principal: Principal;
    try {
      principal = await services.auth.authenticate(request.headers.authorization);
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      response.setHeader('connection', 'close');
      return refuse(response, error);
    }
    return upload(request, response, services, principal);
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
    return;
  }
  const id = SHA256.exec(pathname)?.[1];
  let access: { owners: string[] | undefined; cacheControl: string } | undefined;
  try {
    access = id ? await reader(request, url, id, services) : undefined;
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    return refuse(response, error);
  }
  const image = id && access ? await services.images.find(id, access.owners) : null;
  if (!id || !image || !access) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('image not found\n');
    return;
  }
  const { images } = services;
  const etag = `"${id}"`;
  const headers = { etag, 'cache-control': access.cacheControl, 'content-type': image.mime };
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, headers).end();
    return;
  }
  const bytes = await images.read(id);
  response.writeHead(200, { ...headers, 'content-length': bytes.byteLength });
  response.end(request.method === 'HEAD' ? undefined : bytes);
}
