// What a page of another site can make a browser do with this server: nothing, unless CORS_ORIGINS lists its origin.
// - CSRF: a request a browser sends without asking first (a "simple" request: a GET, or a POST whose body is a form,
//   multipart, text/plain or untyped) must carry GraphQL-Require-Preflight, which no page can add without a CORS
//   preflight. graphql-yoga's own plugin enforces it on /graphql, and POST /images follows the same rule.
// - CORS: only the origins listed in CORS_ORIGINS get CORS headers (none by default: same origin only), so a foreign
//   page's preflight fails and its JSON or header-carrying request is never sent.
// - graphql-ws: a socket opened by a page of any other origin is refused at the upgrade (graphql-ws.ts).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin } from 'graphql-yoga';
import { RequestError } from './request-error.js';
import { isLoopbackHost } from '../auth/authenticator.js';

/** The header the project's clients send (any value): what the README documents. */
export const CSRF_HEADER = 'graphql-require-preflight';
/** Also accepted: the names graphql-yoga's and Apollo's clients send for the same purpose. */
const CSRF_HEADERS = [CSRF_HEADER, 'x-graphql-yoga-csrf', 'apollo-require-preflight'];
/** The body types a page may POST to any site without a preflight (and an untyped body). */
const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
/** Headers a listed origin's page may read on an answer (the rate limit's wait). */
const EXPOSED_HEADERS = ['retry-after'];
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** Why a simple request without the header is refused: 403, `extensions.code` BAD_REQUEST. */
export function csrfRefusal(): RequestError {
  return new RequestError(
    'BAD_REQUEST',
    `a GET, multipart or form request needs the header ${CSRF_HEADER} (any value, e.g. 1), so that a page of ` +
      'another site cannot send it (cross-site request forgery)',
    403,
  );
}

/** Yoga's CSRF prevention, with the project's header and its refusal typed like the other refused requests. */
export function csrfPlugin(): Plugin {
  const { onRequestParse } = useCSRFPrevention({ requestHeaders: CSRF_HEADERS });
  return {
    async onRequestParse(payload) {
      try {
        await onRequestParse?.(payload);
      } catch {
        throw csrfRefusal();
      }
    },
  };
}

/** POST /images under the same rule as /graphql: a body a foreign page could send without asking, and no header. */
export function isUnguardedPost(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type']?.trim().toLowerCase();
  const simple = !type || SIMPLE_CONTENT_TYPES.some((simpleType) => type.startsWith(simpleType));
  return simple && !CSRF_HEADERS.some((name) => headers[name] !== undefined);
}

function isListed(listed: readonly string[], origin: string | null | undefined): origin is string {
  return !!origin && listed.includes(origin);
}

/**
 * Yoga's `cors` option: CORS headers for a page of a listed origin only, which may send credentials (the
 * Authorization header) and any header it asks for; anything else gets none, so the browser keeps it out.
 */
export function corsOptions(listed: readonly string[]) {
  return (request: Request) => {
    const origin = request.headers.get('origin');
    if (!isListed(listed, origin)) return false as const;
    return { origin, credentials: true, exposedHeaders: EXPOSED_HEADERS, maxAge: PREFLIGHT_MAX_AGE_SECONDS };
  };
}

/**
 * The CORS headers of an /images answer (empty for a page of an unlisted origin). A preflight is answered with what
 * it asks for; every answer varies by Origin where some origin is listed, so no cache hands one origin's to another.
 */
export function imageCorsHeaders(listed: readonly string[], request: IncomingMessage): Record<string, string> {
  if (listed.length === 0) return {};
  const { origin } = request.headers;
  if (!isListed(listed, origin)) return { vary: 'Origin' };
  const headers: Record<string, string> = {
    vary: 'Origin',
    'access-control-allow-origin': origin,
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': EXPOSED_HEADERS.join(', '),
  };
  if (request.method === 'OPTIONS') {
    headers['access-control-allow-methods'] = 'GET, HEAD, POST';
    const asked = request.headers['access-control-request-headers'];
    if (asked) headers['access-control-allow-headers'] = asked;
    headers['access-control-max-age'] = String(PREFLIGHT_MAX_AGE_SECONDS);
  }
  return headers;
}

/**
 * Whether a WebSocket upgrade may proceed: without an Origin (not a browser), from the server's own origin (its host
 * and port are the Host the request was sent to, whatever the scheme a proxy in front of it speaks), or a listed one.
 */
export function socketOriginAllowed(
  listed: readonly string[],
  origin: string | undefined,
  host: string | undefined,
): boolean {
  if (origin === undefined) return true;
  if (isListed(listed, origin)) return true;
  if (!host) return false;
  try {
    const from = new URL(origin);
    // Parsed with the origin's scheme, so that a default port written out (example.com:443) compares equal.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    // "null" (a sandboxed frame, a file) or anything else that is not a URL.
    return false;
  }
}

/**
 * A guard against DNS rebinding, where no credentials are needed (the local user on a loopback address): a page whose
 * own name was re-pointed at 127.0.0.1 is same-origin to the browser, so neither CORS nor the CSRF header stops it,
 * but its requests carry its own name in Host. Such a server answers only requests whose Host is a loopback name or
 * address (with any port); anything else is refused before it is read. Undefined where the guard does not apply.
 */
export function loopbackHostGuard(
  credentialsRequired: boolean,
  listenHost: string,
): ((host?: string) => boolean) | undefined {
  if (credentialsRequired || !isLoopbackHost(listenHost)) return undefined;
  return (host) => {
    // HTTP/1.0 clients may send none; browsers always do.
    if (host === undefined) return true;
    const name = host.replace(/:\d+$/, '').toLowerCase();
    return isLoopbackHost(name) || name.endsWith('.localhost');
  };
}
