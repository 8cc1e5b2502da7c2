// Image URLs where credentials are required: GraphQL hands out signed URLs that work without a header (as an <img>
// fetches them) until they expire; an unsigned, tampered or expired one is refused with 403; with credentials, one
// reads only the images one's owner stored (another's is "not found").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerKey, gql, startTestServer, type TestServer } from './helpers/server.js';
import { readShared, styleImage } from './helpers/shared.js';

let server: TestServer;
let alice: string;
let bob: string;
let stored: { sha256: string; url: string };
let bytes: Uint8Array;

beforeAll(async () => {
  server = await startTestServer({ GRAMIAN_AUTH: 'keys' });
  alice = await bearerKey(server, 'alice', ['run']);
  bob = await bearerKey(server, 'bob', ['run']);
  bytes = await readShared(styleImage('udnie.jpg'));
  const response = await fetch(`${server.url}/images`, {
    method: 'POST',
    headers: { 'content-type': 'image/jpeg', authorization: alice },
    body: new Uint8Array(bytes),
  });
  expect(response.status).toBe(201);
  stored = (await response.json()) as { sha256: string; url: string };
});

afterAll(async () => {
  await server.stop();
});

const get = (url: string, authorization?: string) =>
  fetch(`${server.url}${url}`, { headers: authorization ? { authorization } : {} });

describe('image URLs where credentials are required', () => {
  it('answers a signed URL that works without a header, cacheable only privately', async () => {
    expect(stored.url).toMatch(new RegExp(`^/images/${stored.sha256}\\?exp=\\d+&sig=[\\w-]{43}$`));
    const response = await get(stored.url);
    expect(response.status).toBe(200);
    expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), Buffer.from(bytes))).toBe(0);
    expect(response.headers.get('cache-control')).toMatch(/^private, max-age=\d+/);
  });

  it('signs the URLs GraphQL hands out, the same one within its window', async () => {
    const query = `query ($id: ID!) { node(id: $id) { ... on Image { url } } }`;
    const first = await gql(server.url, query, { id: idOf(stored.sha256) }, { authorization: alice });
    const second = await gql(server.url, query, { id: idOf(stored.sha256) }, { authorization: alice });
    expect(first.data!.node.url).toMatch(/\?exp=\d+&sig=/);
    expect(second.data!.node.url).toBe(first.data!.node.url);
    expect((await get(first.data!.node.url)).status).toBe(200);
  });

  it('refuses an unsigned, tampered, re-targeted or expired URL without a header with 403', async () => {
    const url = new URL(stored.url, server.url);
    const exp = url.searchParams.get('exp')!;
    const sig = url.searchParams.get('sig')!;
    const other = 'f'.repeat(64);
    const expired = server.services.imageUrls.url(stored.sha256, Date.now() - 3 * 3600_000);
    const refused = [
      `/images/${stored.sha256}`,
      `/images/${stored.sha256}?exp=${exp}&sig=${sig.slice(0, -1)}${sig.endsWith('A') ? 'B' : 'A'}`,
      `/images/${stored.sha256}?exp=${Number(exp) + 600}&sig=${sig}`,
      `/images/${other}?exp=${exp}&sig=${sig}`,
      expired,
    ];
    for (const path of refused) {
      const response = await get(path);
      expect(response.status, path).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    }
  });

  it('with credentials, reads the images its owner stored; another owner’s is not found', async () => {
    expect((await get(`/images/${stored.sha256}`, alice)).status).toBe(200);
    expect((await get(`/images/${stored.sha256}`, bob)).status).toBe(404);
    expect((await get(`/images/${stored.sha256}`, 'Bearer gmn_not-a-key')).status).toBe(401);
  });
});

describe('image URLs on loopback without credentials', () => {
  it('are plain and stay the same, as the bytes do', async () => {
    const local = await startTestServer();
    try {
      const response = await fetch(`${local.url}/images`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: new Uint8Array(bytes),
      });
      const { sha256, url } = (await response.json()) as { sha256: string; url: string };
      expect(url).toBe(`/images/${sha256}`);
      const image = await fetch(`${local.url}${url}`);
      expect(image.status).toBe(200);
      expect(image.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    } finally {
      await local.stop();
    }
  });
});

/** The global id of an image, as GraphQL names it. */
function idOf(sha256: string): string {
  return Buffer.from(`Image:${sha256}`).toString('base64');
}
