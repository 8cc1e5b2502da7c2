// What a page of another site could make a browser send, at the HTTP level against a real server: CSRF prevention (a
// GET, multipart, form or text request needs GraphQL-Require-Preflight, on /graphql and POST /images alike), CORS
// headers for the origins in CORS_ORIGINS only, and graphql-ws refusing a socket from a foreign Origin at the upgrade,
// before anything runs. test/client-browser-security.test.ts tries the same from a page in Chromium.
import http from 'node:http';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../src/config.js';
import { footprint, gql, startTestServer, UPLOAD_STYLE, type TestServer } from './helpers/server.js';
import { readShared, styleImage } from './helpers/shared.js';

const LISTED = 'http://app.example.test:8080';
const FOREIGN = 'http://evil.example.test';
const CSRF = { 'graphql-require-preflight': '1' };

let server: TestServer;
let jpeg: Buffer;

beforeAll(async () => {
  server = await startTestServer({ CORS_ORIGINS: `${LISTED}, https://other.example.test` });
  jpeg = await readShared(styleImage('the_scream.jpg'));
});

afterAll(async () => {
  await server?.stop();
});

/** The multipart uploadStyle request a browser form or fetch would send, with the given headers only. */
function multipartUpload(name: string, headers: Record<string, string> = {}): Promise<Response> {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: UPLOAD_STYLE, variables: { input: { name, image: null } } }));
  form.set('map', JSON.stringify({ 0: ['variables.input.image'] }));
  form.set('0', new Blob([new Uint8Array(jpeg)], { type: 'image/jpeg' }), 'scream.jpg');
  return fetch(`${server.url}/graphql`, { method: 'POST', body: form, headers });
}

async function json(response: Response): Promise<Record<string, any>> {
  return { status: response.status, ...((await response.json()) as Record<string, any>) };
}

function expectCsrfRefusal(answer: Record<string, any>) {
  expect(answer.status).toBe(403);
  expect(answer.errors?.[0]?.extensions?.code ?? answer.error?.code).toBe('BAD_REQUEST');
  expect(answer.errors?.[0]?.message ?? answer.error?.message).toContain('graphql-require-preflight');
}

describe('CSRF prevention on /graphql', () => {
  it('refuses a multipart mutation without the header, with nothing written, and runs it with the header', async () => {
    const before = await footprint(server);
    expectCsrfRefusal(await json(await multipartUpload('forged')));
    expect(await footprint(server)).toEqual(before);

    const accepted = await json(await multipartUpload('with header', CSRF));
    expect(accepted.data.uploadStyle).toMatchObject({ __typename: 'Style', name: 'with header' });
    // Yoga's and Apollo's names for the header do as well.
    for (const header of ['x-graphql-yoga-csrf', 'apollo-require-preflight']) {
      const answer = await json(await multipartUpload(`with ${header}`, { [header]: 'true' }));
      expect(answer.data.uploadStyle.__typename).toBe('Style');
    }
  });

  it('refuses form-encoded and text bodies without the header (what a foreign page can POST unasked)', async () => {
    const before = await footprint(server);
    const mutation = `mutation { createPreset(input: { name: "forged", params: { size: 64 } }) { __typename } }`;
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', new URLSearchParams({ query: mutation }).toString()],
      ['text/plain;charset=UTF-8', JSON.stringify({ query: mutation })],
    ] as const) {
      const response = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': type },
        body,
      });
      expectCsrfRefusal(await json(response));
    }
    expect(await footprint(server)).toEqual(before);
  });

  it('refuses a GET query without the header and answers it with the header; GraphiQL still opens', async () => {
    const url = `${server.url}/graphql?query=${encodeURIComponent('{ presets { name } }')}`;
    const accept = { accept: 'application/graphql-response+json, application/json' };
    expectCsrfRefusal(await json(await fetch(url, { headers: accept })));
    const answered = await json(await fetch(url, { headers: { ...accept, ...CSRF } }));
    expect(answered.status).toBe(200);
    expect(answered.data.presets.length).toBeGreaterThan(0);

    const graphiql = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    const page = await graphiql.text();
    // With the key prompt in front of it (graphiql.ts).
    expect(page).toContain('gramianGraphiQL(');
    expect(page).toContain('name="api-key"');
  });

  it('needs no header on a JSON POST, which a browser preflights', async () => {
    const answer = await gql(server.url, '{ presets { name } }');
    expect(answer.status).toBe(200);
    expect(answer.data!.presets.length).toBeGreaterThan(0);
  });
});

describe('CSRF prevention on POST /images', () => {
  const post = (body: BodyInit, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/images`, { method: 'POST', body, headers });

  it('refuses an untyped, form-encoded or text body without the header, unread and with nothing written', async () => {
    const before = await footprint(server);
    const types: Record<string, string>[] = [
      {},
      // What curl --data-binary sends unless told otherwise.
      { 'content-type': 'application/x-www-form-urlencoded' },
      { 'content-type': 'text/plain' },
      { 'content-type': 'multipart/form-data; boundary=x' },
    ];
    for (const headers of types) {
      const response = await post(new Blob([new Uint8Array(jpeg)]), headers);
      expect(response.headers.get('connection')).toBe('close');
      expectCsrfRefusal(await json(response));
    }
    expect(await footprint(server)).toEqual(before);
  });

  it('stores the image with the header, or with an image type (which a browser preflights)', async () => {
    for (const headers of [
      { ...CSRF, 'content-type': 'application/x-www-form-urlencoded' },
      CSRF,
      { 'content-type': 'image/jpeg' },
    ]) {
      const response = await post(new Blob([new Uint8Array(jpeg)]), headers);
      expect([JSON.stringify(headers), response.status]).toEqual([JSON.stringify(headers), 201]);
    }
  });
});

describe('CORS', () => {
  const preflight = (path: string, origin: string) =>
    fetch(`${server.url}${path}`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, graphql-require-preflight',
      },
    });

  it('answers a preflight from a listed origin, with credentials allowed, on /graphql and /images', async () => {
    for (const path of ['/graphql', '/images']) {
      const response = await preflight(path, LISTED);
      expect([path, response.status]).toEqual([path, 204]);
      expect(response.headers.get('access-control-allow-origin')).toBe(LISTED);
      expect(response.headers.get('access-control-allow-credentials')).toBe('true');
      expect(response.headers.get('access-control-allow-methods')).toContain('POST');
      expect(response.headers.get('access-control-allow-headers')).toContain('authorization');
      expect(response.headers.get('access-control-allow-headers')).toContain('graphql-require-preflight');
    }
  });

  it('gives no CORS header to any other origin, the server’s own included (it needs none)', async () => {
    const own = server.url;
    for (const path of ['/graphql', '/images']) {
      for (const origin of [FOREIGN, own, 'null', 'http://app.example.test:8081']) {
        const response = await preflight(path, origin);
        expect([path, origin, response.headers.get('access-control-allow-origin')]).toEqual([path, origin, null]);
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      }
    }
  });

  it('adds the CORS headers to the answers a listed origin reads, and none to others', async () => {
    for (const [origin, allowed] of [
      [LISTED, LISTED],
      ['https://other.example.test', 'https://other.example.test'],
      [FOREIGN, null],
    ] as const) {
      const answer = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect([origin, answer.headers.get('access-control-allow-origin')]).toEqual([origin, allowed]);
      const image = await fetch(`${server.url}/images`, {
        method: 'POST',
        headers: { origin, 'content-type': 'image/jpeg' },
        body: new Blob([new Uint8Array(jpeg)]),
      });
      expect(image.status).toBe(201);
      expect([origin, image.headers.get('access-control-allow-origin')]).toEqual([origin, allowed]);
      expect(image.headers.get('vary')).toContain('Origin');
      const { url } = (await image.json()) as { url: string };
      const read = await fetch(`${server.url}${url}`, { headers: { origin } });
      expect([origin, read.status, read.headers.get('access-control-allow-origin')]).toEqual([origin, 200, allowed]);
    }
    const listed = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { origin: LISTED, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(listed.headers.get('access-control-expose-headers')).toContain('retry-after');
  });

  it('reads CORS_ORIGINS as origins, and lists every entry that is not one', () => {
    expect(loadConfig({}).corsOrigins).toEqual([]);
    const origins = loadConfig({ CORS_ORIGINS: ' HTTPS://App.Example.com:443 ,http://localhost:5173/,' }).corsOrigins;
    expect(origins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    const bad = ['*', 'https://*.example.com', 'https://app.example.com/path', 'ftp://files.example.com', 'app'];
    let error: unknown;
    try {
      loadConfig({ CORS_ORIGINS: bad.join(',') });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.filter((p) => p.startsWith('CORS_ORIGINS'))).toHaveLength(bad.length);
  });
});

describe('graphql-ws and the Origin header', () => {
  const wsUrl = () => `${server.url.replace(/^http/, 'ws')}/graphql`;

  /** A graphql-ws client whose socket says it comes from `origin` (none: as a program, not a browser, opens it). */
  function clientFrom(origin: string | undefined): Client {
    class FromOrigin extends WebSocket {
      constructor(address: string, protocols?: string | string[]) {
        super(address, protocols, origin ? { origin } : {});
      }
    }
    return createClient({ url: wsUrl(), webSocketImpl: FromOrigin, retryAttempts: 0, lazy: true });
  }

  /** createPreset over the socket: its __typename, or how the socket failed. */
  async function createPresetOver(client: Client, name: string): Promise<string> {
    try {
      const query = `mutation ($input: CreatePresetInput!) { createPreset(input: $input) { __typename } }`;
      for await (const result of client.iterate({ query, variables: { input: { name, params: { size: 64 } } } }))
        return String((result.data as Record<string, any> | undefined)?.createPreset?.__typename ?? 'no data');
      return 'completed without a result';
    } catch (error) {
      return `failed: ${error instanceof Error ? error.message : String((error as { code?: number }).code ?? error)}`;
    } finally {
      await client.dispose();
    }
  }

  it('refuses the upgrade from a foreign origin with 403, so that nothing runs', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(wsUrl(), 'graphql-transport-ws', { origin: FOREIGN });
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('open', () => reject(new Error('the socket opened')));
      socket.on('error', () => {});
    });
    expect(status).toBe(403);

    const before = await footprint(server);
    // Another port of the same host, another host of the same port, and what sandboxed pages send are foreign too.
    const { port } = new URL(server.url);
    for (const origin of [FOREIGN, `http://127.0.0.1:${Number(port) + 1}`, `http://localhost:${port}`, 'null']) {
      const outcome = await createPresetOver(clientFrom(origin), `over a socket from ${origin}`);
      expect([origin, outcome]).toEqual([origin, expect.stringMatching(/^failed/)]);
    }
    expect(await footprint(server)).toEqual(before);
  });

  it('lets the server’s own origin, a listed one and a program without an Origin through', async () => {
    for (const origin of [server.url, LISTED, undefined]) {
      const outcome = await createPresetOver(clientFrom(origin), `over a socket from ${origin ?? 'a program'}`);
      expect([origin, outcome]).toEqual([origin, 'Preset']);
    }
  });
});

describe('DNS rebinding', () => {
  /** A request as a re-pointed page's browser sends it: to the server's address, with the page's name as Host. */
  function withHost(target: TestServer, host: string): Promise<number> {
    const { port } = new URL(target.url);
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/graphql',
          method: 'POST',
          headers: { host, 'content-type': 'application/json' },
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify({ query: '{ presets { id } }' }));
    });
  }

  it('refuses a Host other than a loopback name where no credentials are needed, socket included', async () => {
    const { port } = new URL(server.url);
    expect(await withHost(server, `evil.example:${port}`)).toBe(403);
    expect(await withHost(server, `192.168.1.10:${port}`)).toBe(403);
    expect(await withHost(server, `localhost:${port}`)).toBe(200);
    expect(await withHost(server, `127.0.0.1:${port}`)).toBe(200);
    expect(await withHost(server, `app.localhost:${port}`)).toBe(200);
    const refused = await new Promise<string>((resolve) => {
      const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', {
        headers: { host: `evil.example:${port}` },
      });
      socket.on('unexpected-response', (_request, response) => resolve(String(response.statusCode)));
      socket.on('open', () => resolve('open'));
      socket.on('error', () => undefined);
    });
    expect(refused).toBe('403');
  });

  it('leaves Host alone where credentials are required (a re-pointed page has no key)', async () => {
    const guarded = await startTestServer({ GRAMIAN_AUTH: 'keys' });
    try {
      const { port } = new URL(guarded.url);
      expect(await withHost(guarded, `gramian.example.com:${port}`)).toBe(401);
    } finally {
      await guarded.stop();
    }
  });
});
