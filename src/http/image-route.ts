// /images: GET /images/<sha256> serves stored bytes with their type, a strong ETag (the hash) and immutable
// caching, since an id always names the same bytes. POST /images stores a raw image body (same checks and limits
// as a GraphQL upload) and answers its id, for clients that cannot send multipart requests, GraphiQL users included.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { ClientError } from '../errors.js';
import type { ImageStore } from '../storage/image-store.js';

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

async function upload(request: IncomingMessage, response: ServerResponse, images: ImageStore): Promise<void> {
  const bytes = await readBody(request, images.limits.maxBytes);
  if (!bytes) {
    response.setHeader('connection', 'close');
    json(response, 413, {
      error: { code: 'IMAGE_TOO_LARGE', message: `body is more than the limit of ${images.limits.maxBytes} bytes` },
    });
    return;
  }
  try {
    const image = await images.save(await images.check(bytes, 'body'));
    json(response, 201, {
      id: encodeGlobalID('Image', image.id),
      sha256: image.id,
      url: `/images/${image.id}`,
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

export async function serveImages(
  request: IncomingMessage,
  response: ServerResponse,
  images: ImageStore,
): Promise<void> {
  const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (request.method === 'POST' && pathname === '/images') return upload(request, response, images);
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD, POST' }).end();
    return;
  }
  const id = SHA256.exec(pathname)?.[1];
  const image = id ? await images.find(id) : null;
  if (!id || !image) {
    response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('image not found\n');
    return;
  }
  const etag = `"${id}"`;
  const headers = { etag, 'cache-control': 'public, max-age=31536000, immutable', 'content-type': image.mime };
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, headers).end();
    return;
  }
  const bytes = await images.read(id);
  response.writeHead(200, { ...headers, 'content-length': bytes.byteLength });
  response.end(request.method === 'HEAD' ? undefined : bytes);
}
