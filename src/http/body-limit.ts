// The size limit of a GraphQL request body, enforced before Yoga reads it: a declared Content-Length over the limit
// is refused unread; a body without one (chunked) is read up to the limit and refused as soon as it passes it. Either
// refusal is a 413 with a typed JSON error, and the connection is closed after it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { RequestErrorCode } from '../errors.js';

/**
 * The most bytes a GraphQL request may carry: room for the multipart overhead and the other fields around a file of
 * up to twice the upload limit, so that a file just over the limit still reaches the resolver for a typed error.
 */
export function requestBodyLimit(maxUploadBytes: number): number {
  return 2 * maxUploadBytes + 64 * 1024;
}

function refuseTooLarge(request: IncomingMessage, response: ServerResponse, message: string): void {
  const code: RequestErrorCode = 'IMAGE_TOO_LARGE';
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  response.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(body);
  // What is left of the body is discarded, not kept, until Node closes the connection once the answer is out.
  request.resume();
}

/** The body; 'over' as soon as it passes `limit` bytes (the rest is left unread); 'gone' if the client left first. */
function readUpTo(request: IncomingMessage, limit: number): Promise<Buffer | 'over' | 'gone'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (result: Buffer | 'over' | 'gone') => {
      request.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= limit) return void chunks.push(chunk);
      request.pause();
      settle('over');
    };
    const onEnd = () => settle(Buffer.concat(chunks));
    const onGone = () => settle('gone');
    request.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  });
}

/**
 * Holds the request to `limit` bytes of body. Resolves true when Yoga may handle it (a chunked body is then already
 * read, and handed to Yoga as the request's parsed body), false when it was refused here.
 */
export async function limitRequestBody(
  request: IncomingMessage,
  response: ServerResponse,
  limit: number,
): Promise<boolean> {
  const declared = request.headers['content-length'];
  if (declared !== undefined) {
    if (Number(declared) <= limit) return true;
    refuseTooLarge(request, response, `request body of ${declared} bytes is over the limit of ${limit}`);
    return false;
  }
  // Neither Content-Length nor Transfer-Encoding: there is no body.
  if (request.headers['transfer-encoding'] === undefined) return true;
  const body = await readUpTo(request, limit);
  if (body === 'gone') {
    response.destroy();
    return false;
  }
  if (body === 'over') {
    refuseTooLarge(request, response, `request body is over the limit of ${limit} bytes`);
    return false;
  }
  // @whatwg-node/server takes a body a framework has already read from the request's `body` (as Express's parsers
  // leave it); a stream keeps it from being taken for a parsed JSON object.
  (request as IncomingMessage & { body?: Readable }).body = Readable.from([body]);
  return true;
}
