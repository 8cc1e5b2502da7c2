// A stand-in identity provider for tests: a JWKS served over HTTP on loopback and tokens signed with its key, as a
// frontend app's users would send them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';

export const TEST_ISSUER = 'https://idp.gramian.test/';
export const TEST_AUDIENCE = 'gramian-api';

export interface IdentityProvider {
  /** What the server is configured with: AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE. */
  env: Record<string, string>;
  /** A token for `sub` with these scopes (space-separated in `scope`), valid for ten minutes. */
  token(sub: string, scopes: readonly string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startIdentityProvider(): Promise<IdentityProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'RS256', use: 'sig' }] });
  const server: Server = createServer((request, response) => {
    if (request.url !== '/jwks.json') response.writeHead(404).end();
    else response.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  const key: CryptoKey = privateKey;
  return {
    env: { AUTH_JWKS_URL: url, AUTH_ISSUER: TEST_ISSUER, AUTH_AUDIENCE: TEST_AUDIENCE },
    token: (sub, scopes) =>
      new SignJWT({ scope: scopes.join(' ') })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-1' })
        .setIssuer(TEST_ISSUER)
        .setAudience(TEST_AUDIENCE)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
