// Failures to read a multipart request (more files or fields than allowed, a malformed or cut-off body) come from
// the body parser as plain Errors, which would be masked as INTERNAL. Whatever the parser of a multipart body
// throws is about that body, so it is refused as the client's request instead, by where it came from.
import type { Plugin } from 'graphql-yoga';
import { isGraphQLError } from './mask-error.js';
import { RequestError } from './request-error.js';

function isMultipart(request: Request): boolean {
  const type = request.headers.get('content-type') ?? '';
  return request.method === 'POST' && type.toLowerCase().startsWith('multipart/form-data');
}

function asRequestError(error: unknown): unknown {
  // A client that went away: Yoga drops aborted requests silently.
  if (error instanceof Error && error.name === 'AbortError') return error;
  if (error instanceof RequestError) return error;
  if (isGraphQLError(error)) {
    // Yoga's own refusals (no operations, invalid JSON) keep their message; its file-size refusal says 413.
    const status = error.extensions?.http?.status;
    return status === 413 ? new RequestError('IMAGE_TOO_LARGE', error.message, 413) : error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new RequestError('BAD_REQUEST', `the multipart request could not be read: ${reason}`, 400);
}

export function multipartErrorsPlugin(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || !isMultipart(request)) return;
      setRequestParser(async (multipart) => {
        try {
          return await requestParser(multipart);
        } catch (error) {
          throw asRequestError(error);
        }
      });
    },
  };
}
