// A real server for tests: its own SQLite file and image folder in a temp dir, a free port, the real VGG19, and
// clients that speak GraphQL over HTTP (JSON and multipart), graphql-ws and SSE.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApiKey } from '../../src/auth/api-keys.js';
import { loadConfig } from '../../src/config.js';
import { startServer, type GramianServer } from '../../src/server.js';
import { SHARED_MODELS, VGG19_UINT8 } from './shared.js';

export interface TestServer extends GramianServer {
  dataDir: string;
  stop(): Promise<void>;
}

export function testEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    GRAMIAN_WEIGHTS: VGG19_UINT8,
    GRAMIAN_MODELS: SHARED_MODELS,
    GRAMIAN_WEIGHTS_DOWNLOAD: 'false',
    ...extra,
  };
}

export async function startTestServer(extra: Record<string, string> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'gramian-server-')));
  // GRAMIAN_TEST_LOG=1 shows the server's log while debugging a test.
  const server = await startServer(
    loadConfig(testEnv(dir, extra)),
    process.env.GRAMIAN_TEST_LOG ? (m) => console.error(m) : () => {},
  );
  return {
    ...server,
    dataDir: dir,
    stop: async () => {
      await server.close();
      if (!dataDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Who a request is sent as: an Authorization header value (`Bearer <key>`), and any other headers. */
export interface As {
  authorization?: string;
  headers?: Record<string, string>;
}

function headersOf(as: As, base: Record<string, string>): Record<string, string> {
  return { ...base, ...(as.authorization ? { authorization: as.authorization } : {}), ...as.headers };
}

export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  as: As = {},
): Promise<GraphQLResponse<T> & { status: number }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: headersOf(as, {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    }),
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as GraphQLResponse<T>) };
}

/** A GraphQL multipart request: each file goes to the variable path given as its key (e.g. "input.image"). */
export async function gqlUpload<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  files: Record<string, { bytes: Uint8Array; name?: string; type?: string }>,
  as: As = {},
): Promise<GraphQLResponse<T> & { status: number }> {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query, variables }));
  const entries = Object.entries(files);
  form.set('map', JSON.stringify(Object.fromEntries(entries.map(([at], i) => [String(i), [`variables.${at}`]]))));
  entries.forEach(([, file], i) =>
    form.set(
      String(i),
      new Blob([new Uint8Array(file.bytes)], { type: file.type ?? 'application/octet-stream' }),
      file.name ?? `file${i}`,
    ),
  );
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    body: form,
    headers: headersOf(as, { 'graphql-require-preflight': '1' }),
  });
  return { status: response.status, ...((await response.json()) as GraphQLResponse<T>) };
}

/** A graphql-ws client; `authorization` travels in connectionParams, as the server expects it. */
export function wsClient(url: string, authorization?: string): Client {
  return createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    ...(authorization ? { connectionParams: { authorization } } : {}),
  });
}

/** A new API key of the test server's database, as an Authorization header value. */
export async function bearerKey(
  server: TestServer,
  owner: string,
  scopes: readonly string[],
  name = `${owner} ${scopes.join('+')}`,
): Promise<string> {
  const { key } = await createApiKey(server.services.db, { name, owner, scopes });
  return `Bearer ${key}`;
}

/** Every result of a subscription over graphql-ws until it completes (or errors). */
export function subscribeAll<T = Record<string, any>>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  onResult?: (result: GraphQLResponse<T>) => void,
): Promise<GraphQLResponse<T>[]> {
  const results: GraphQLResponse<T>[] = [];
  return new Promise((resolve, reject) => {
    client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          results.push(result as GraphQLResponse<T>);
          onResult?.(result as GraphQLResponse<T>);
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve(results),
      },
    );
  });
}

/** Every result of a subscription over server-sent events until the server completes the stream. */
export async function subscribeSse<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  as: As = {},
): Promise<GraphQLResponse<T>[]> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: headersOf(as, { 'content-type': 'application/json', accept: 'text/event-stream' }),
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event: next'))
    .map(
      (block) =>
        JSON.parse(
          block
            .split('\n')
            .find((line) => line.startsWith('data:'))!
            .slice(5),
        ) as GraphQLResponse<T>,
    );
}

/** Row counts of every table and the number of stored image files: "nothing written" means these do not change. */
export async function footprint(server: TestServer): Promise<Record<string, number>> {
  const { db } = server.services;
  const files = await readdir(server.services.images.root, { recursive: true, withFileTypes: true }).catch(() => []);
  return {
    images: await db.image.count(),
    styles: await db.style.count(),
    presets: await db.preset.count(),
    runs: await db.run.count(),
    runStyles: await db.runStyle.count(),
    runSteps: await db.runStep.count(),
    runPreviews: await db.runPreview.count(),
    imageFiles: files.filter((f) => f.isFile()).length,
  };
}

export const RUN_EVENTS = /* GraphQL */ `
  subscription ($runId: ID!) {
    runEvents(runId: $runId) {
      __typename
      ... on RunSnapshot {
        status
        queuePosition
        lastStep {
          step
        }
        run {
          id
          totalSteps
        }
      }
      ... on RunStatusChanged {
        status
        queuePosition
      }
      ... on RunStepAdded {
        totalSteps
        step {
          step
          scale
          contentLoss
          styleLoss
          tvLoss
          totalLoss
          ms
        }
      }
      ... on RunPreviewAdded {
        dataUrl
        preview {
          step
          image {
            url
            mime
            width
            height
          }
        }
      }
      ... on RunEnded {
        status
        run {
          id
          status
          lastStep
          result {
            url
            mime
            width
            height
          }
          losses {
            total
          }
          error {
            code
            message
          }
        }
      }
    }
  }
`;

export const UPLOAD_STYLE = /* GraphQL */ `
  mutation ($input: UploadStyleInput!) {
    uploadStyle(input: $input) {
      __typename
      ... on Style {
        id
        name
        tags
        image {
          url
          width
          height
        }
      }
      ... on Error {
        code
        message
      }
      ... on InputError {
        field
        validValues
      }
      ... on ImageTooLargeError {
        field
        limit
      }
    }
  }
`;

export const START_TRANSFER = /* GraphQL */ `
  mutation ($input: StartTransferInput!) {
    startTransfer(input: $input) {
      __typename
      ... on Run {
        id
        status
        queuePosition
        totalSteps
        params {
          size
          steps
          previewEvery
        }
        content {
          url
        }
      }
      ... on Error {
        code
        message
      }
      ... on InputError {
        field
        validValues
      }
      ... on NotFoundError {
        missingType
        missingId
      }
    }
  }
`;

export const CANCEL_RUN = /* GraphQL */ `
  mutation ($id: ID!) {
    cancelRun(id: $id) {
      __typename
      ... on Run {
        id
        status
        lastStep
        steps {
          step
        }
      }
      ... on Error {
        code
        message
      }
    }
  }
`;

/** Reads until done() holds (polling every 50 ms); fails naming what it waited for after two minutes. */
export async function until<T>(read: () => T | Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
