// Talking to the server: typed GraphQL over HTTP (queries and mutations), typed subscriptions over one graphql-ws
// socket, and raw image uploads (POST /images). Everything is same-origin: the server that serves this page is the API.
// Every request carries the CSRF header and, where the server needs one, the API key (auth.ts); a request refused for
// want of credentials waits for a key and goes again.
import type { TadaDocumentNode } from 'gql.tada';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import type { ImageRouteAnswer, StoredImage } from '../../image-route.ts';
import { PREFLIGHT_HEADERS } from '../../request-headers.ts';
import { askForKey, authorization } from './auth.ts';

/** A GraphQL error outside a typed result: bad request, server trouble, or the network. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: readonly { message: string; extensions?: { code?: string } }[];
}

/** gql.tada documents are plain DocumentNodes; printing once per document is enough. */
const printed = new WeakMap<object, string>();
function source(document: TadaDocumentNode<unknown, never>): string {
  let text = printed.get(document);
  if (!text) printed.set(document, (text = print(document)));
  return text;
}

function unwrap<T>(response: GraphQLResponse<T>): T {
  const error = response.errors?.[0];
  if (error) throw new ApiError(error.message, error.extensions?.code);
  if (!response.data) throw new ApiError('empty response');
  return response.data;
}

/** Sends a request with the CSRF header and the key; a 401 waits for a (new) key and sends it again. */
async function send(url: string, init: RequestInit & { headers: Record<string, string> }): Promise<Response> {
  for (;;) {
    const sentWith = authorization();
    const headers = { ...init.headers, ...PREFLIGHT_HEADERS, ...(sentWith ? { authorization: sentWith } : {}) };
    let response: Response;
    try {
      response = await fetch(url, { ...init, headers });
    } catch (error) {
      throw new ApiError(`server unreachable: ${(error as Error).message}`, 'NETWORK');
    }
    if (response.status !== 401) return response;
    await askForKey(sentWith);
  }
}

/** Runs a query or mutation over HTTP; the result is typed from the document. */
export async function execute<Result, Variables>(
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const response = await send('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query: source(document), variables }),
  });
  const body = (await response.json().catch(() => null)) as GraphQLResponse<Result> | null;
  if (!body) throw new ApiError(`server answered ${response.status} without a GraphQL response`, 'NETWORK');
  return unwrap(body);
}

/** Stores an image by sending its bytes as they are: no multipart, and the answer's id works in any mutation. */
export async function uploadImage(file: Blob): Promise<StoredImage> {
  const response = await send('/images', {
    method: 'POST',
    body: file,
    headers: { 'content-type': file.type || 'application/octet-stream' },
  });
  const body = (await response.json().catch(() => null)) as ImageRouteAnswer | null;
  if (body && 'error' in body) throw new ApiError(body.error.message, body.error.code);
  if (!response.ok || !body) throw new ApiError(`upload failed (${response.status})`);
  return body;
}

// ---- graphql-ws ----------------------------------------------------------------------------------------------

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting';

const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`;
let state: ConnectionState = 'connecting';
const stateListeners = new Set<(state: ConnectionState) => void>();
const reconnectListeners = new Set<() => void>();
/** The socket closed since it last connected: the next connection is a reconnection, whatever closed it. */
let dropped = false;
/** What the socket last authenticated with, and whether the server refused it (close code 4403). */
let socketAuthorization: string | undefined;
let socketRefused = false;

function setState(next: ConnectionState): void {
  if (next === state) return;
  state = next;
  for (const listener of stateListeners) listener(next);
}

const socket = createClient({
  url: wsUrl,
  // Keep the socket open even with no subscription: the header shows its state, and a restart is noticed at once.
  lazy: false,
  // Retry for ever, whatever closed the socket (a restart closes with 1001, a crash with 1006).
  retryAttempts: Infinity,
  shouldRetry: () => true,
  // The key goes once, when the socket opens; the server closes it with 4403 when it needs one or refuses this one.
  connectionParams: () => {
    socketAuthorization = authorization();
    return socketAuthorization ? { authorization: socketAuthorization } : {};
  },
  // 0.5 s, 1 s, 2 s, then every 3 s: back soon after a restart without hammering a server that is down. Refused for
  // its key: as soon as there is another.
  retryWait: (retries) => {
    if (socketRefused) {
      socketRefused = false;
      return askForKey(socketAuthorization);
    }
    return new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 3000)));
  },
  // A fatal close (a protocol error) ends the retries; say so rather than staying "reconnecting" silently.
  onNonLazyError: (error) => console.error('graphql-ws gave up', error),
  on: {
    connecting: (isRetry) => setState(isRetry ? 'reconnecting' : 'connecting'),
    // Not graphql-ws's wasRetry: a normal close (1000, from a proxy say) reconnects without counting as a retry.
    connected: () => {
      setState('connected');
      if (!dropped) return;
      dropped = false;
      for (const listener of reconnectListeners) listener();
    },
    closed: (event) => {
      dropped = true;
      socketRefused = (event as CloseEvent | undefined)?.code === 4403;
      setState('reconnecting');
    },
  },
});

export const connection = {
  get state(): ConnectionState {
    return state;
  },
  /** Called with every change of the socket's state; returns the unsubscribe function. */
  onChange(listener: (state: ConnectionState) => void): () => void {
    stateListeners.add(listener);
    return () => stateListeners.delete(listener);
  },
  /** Called once the socket is back after a drop: the moment to re-read state and subscribe again. */
  onReconnected(listener: () => void): () => void {
    reconnectListeners.add(listener);
    return () => reconnectListeners.delete(listener);
  },
};

export interface Observer<T> {
  next(data: T): void;
  error(error: Error): void;
  /** The server ended the subscription (for runEvents: the run ended). */
  complete(): void;
}

/**
 * Starts a subscription over the shared socket; returns the function that stops it. Note that graphql-ws would
 * resubscribe on its own after a reconnection; callers that must re-read state first stop the subscription when
 * the socket closes (see RunView) and start a new one from connection.onReconnected.
 */
export function subscribe<Result, Variables>(
  document: TadaDocumentNode<Result, Variables>,
  variables: Variables,
  observer: Observer<Result>,
): () => void {
  return socket.subscribe<Result>(
    { query: source(document), variables: variables as Record<string, unknown> },
    {
      next: (response) => {
        try {
          observer.next(unwrap(response as GraphQLResponse<Result>));
        } catch (error) {
          observer.error(error as Error);
        }
      },
      error: (error) => {
        const first = Array.isArray(error) ? (error[0] as { message?: string } | undefined) : undefined;
        observer.error(error instanceof Error ? error : new ApiError(first?.message ?? 'subscription failed'));
      },
      complete: () => observer.complete(),
    },
  );
}

/** Called when the socket closes (a restart, a lost network), before any reconnection. */
export function onDisconnected(listener: () => void): () => void {
  return socket.on('closed', () => listener());
}
