// GET /images/:sha256 — image bytes with their type, a strong ETag (the hash) and immutable caching, since an id
// always names the same bytes. Anything else under /images is a 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ImageStore } from '../storage/image-store.js';

const SHA256 = /^\/images\/([0-9a-f]{64})$/;

export async function serveImage(request: IncomingMessage, response: ServerResponse, images: ImageStore): Promise<void> {
  const id = SHA256.exec(new URL(request.url ?? '/', 'http://localhost').pathname)?.[1];
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
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
