// Typed access to a Gramian server for scripts: queries and mutations over HTTP, subscriptions over graphql-ws, and
// the raw image routes (POST /images to store, GET <url> to download). Every operation is a typed gql.tada document
// from ../operations.ts, so results and variables are checked against the schema.
import type { TadaDocumentNode } from 'gql.tada';
import { Kind, print, type DocumentNode } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { ImageRouteAnswer, StoredImage } from '../image-route.ts';
import { PREFLIGHT_HEADERS } from '../request-headers.ts';
export { describeError, errorDetail, type TypedError } from '../typed-errors.ts';

/** A GraphQL error at the top level (a malformed request, variables that do not fit the schema, INTERNAL). */
export class GraphQLRequestError extends Error {
  constructor(
    readonly operation: string,
    readonly errors: readonly { message: string; extensions?: Record<string, unknown> }[],
  ) {
    super(`${operation}: ${errors.map(withCode).join('; ')}`);
  }
}

/** `CODE: message` when the error has a code (a string, or a number from some servers), else the message. */
function withCode(error: { message: string; extensions?: Record<string, unknown> }): string {
  const code = error.extensions?.code;
  return code && (typeof code === 'string' || typeof code === 'number') ? `${code}: ${error.message}` : error.message;
}

/** Code and message of anything a request can fail with, for per-run reports. */
export function errorCode(error: unknown): { code: string; message: string } {
  if (error instanceof HttpError) return { code: error.code, message: error.detail };
  if (error instanceof GraphQLRequestError) {
    const code = error.errors.find((e) => e.extensions?.code)?.extensions?.code;
    return {
      code: typeof code === 'string' ? code : 'BAD_REQUEST',
      message: error.errors.map((e) => e.message).join('; '),
    };
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (error instanceof TypeError && cause)
    return {
      code: typeof cause.code === 'string' ? cause.code : 'NETWORK',
      message: typeof cause.message === 'string' ? cause.message : error.message,
    };
  return { code: 'ERROR', message: error instanceof Error ? error.message : String(error) };
}

/** Why the image routes refused a request ({ error: { code, message } } in the body). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

function operationName(document: DocumentNode): string {
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION) return definition.name?.value ?? 'anonymous operation';
  }
  return 'operation';
}

export class GramianClient {
  readonly base: URL;
  private ws: Client | null = null;

  /**
   * `server` is the server's root, e.g. http://localhost:4000 (GraphQL is at /graphql); `apiKey` (gmn_…) is sent
   * on every request and on the socket, for a server that requires credentials.
   */
  constructor(
    server: string,
    private readonly apiKey?: string,
  ) {
    this.base = new URL(server.endsWith('/') ? server : `${server}/`);
  }

  /** The Authorization header, when there is a key to send. */
  private get credentials(): Record<string, string> {
    return this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {};
  }

  private get graphqlUrl(): URL {
    return new URL('graphql', this.base);
  }

  /** A query or mutation; top-level errors throw GraphQLRequestError, typed error results are returned as data. */
  async request<Result, Variables>(
    document: TadaDocumentNode<Result, Variables>,
    variables: Variables,
  ): Promise<Result> {
    const response = await fetch(this.graphqlUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...PREFLIGHT_HEADERS,
        ...this.credentials,
      },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const text = await response.text();
    let body: { data?: Result | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new Error(
        `${operationName(document)}: HTTP ${response.status} from ${this.graphqlUrl.href}: ${text.slice(0, 200)}`,
      );
    }
    if (body.errors?.length || body.data == null)
      throw new GraphQLRequestError(
        operationName(document),
        body.errors ?? [{ message: `HTTP ${response.status}, no data` }],
      );
    return body.data;
  }

  /** Every result of a subscription over graphql-ws, until the server completes it. */
  async *subscribe<Result, Variables>(
    document: TadaDocumentNode<Result, Variables>,
    variables: Variables,
  ): AsyncGenerator<Result> {
    this.ws ??= createClient({
      url: this.graphqlUrl.href.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      // A dropped connection is retried and the subscription started again (runEvents begins with a snapshot).
      retryAttempts: 5,
      ...(this.apiKey ? { connectionParams: { authorization: `Bearer ${this.apiKey}` } } : {}),
    });
    const results = this.ws.iterate<Result>({
      query: print(document),
      variables: variables as Record<string, unknown>,
    });
    for await (const result of results) {
      if (result.errors?.length || result.data == null)
        throw new GraphQLRequestError(operationName(document), result.errors ?? [{ message: 'no data' }]);
      yield result.data;
    }
  }

  /** Stores an image (POST /images, a raw body); answers its id for contentImageId / imageId. */
  async uploadImage(bytes: Uint8Array): Promise<StoredImage> {
    const response = await fetch(new URL('images', this.base), {
      method: 'POST',
      body: new Blob([new Uint8Array(bytes)]),
      // An untyped body: refused without the header.
      headers: { ...PREFLIGHT_HEADERS, ...this.credentials },
    });
    const body = (await response.json().catch(() => null)) as ImageRouteAnswer | null;
    if (body && 'error' in body) throw new HttpError(response.status, body.error.code, body.error.message);
    if (!response.ok || !body) throw new HttpError(response.status, `HTTP_${response.status}`, response.statusText);
    return body;
  }

  /** The bytes of an image by its URL (as the API returns it: a path on this server). */
  async download(url: string): Promise<Uint8Array> {
    // Signed URLs need no credentials; a plain one (a server that needs none) is read as the key's owner.
    const response = await fetch(new URL(url, this.base), { headers: this.credentials });
    if (!response.ok)
      throw new HttpError(response.status, `HTTP_${response.status}`, `GET ${url}: ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  async close(): Promise<void> {
    await this.ws?.dispose();
    this.ws = null;
  }
}
