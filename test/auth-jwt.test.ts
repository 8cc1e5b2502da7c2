// Tokens from an identity provider: a real key set served over HTTP on loopback, tokens signed with jose, and the
// verifier that the server uses. Every way a token can be wrong is refused; a right one names its owner and scopes.
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, AuthUnavailableError } from '../src/auth/auth-error.js';
import { createAuthenticator } from '../src/auth/authenticator.js';
import { createTokenVerifier, scopesFromClaims, type JwtConfig } from '../src/auth/jwt.js';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'gramian-api';

interface SigningKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  kid: string;
  alg: string;
}

let server: Server;
let jwksUrl: string;
let rsa: SigningKey;
let ec: SigningKey;
/** Not in the key set: signs with its own kid, or pretends to be `rsa`. */
let stranger: SigningKey;
let jwksRequests = 0;

async function signingKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicKey, kid, alg };
}

async function publicJwk(key: SigningKey): Promise<JWK> {
  return { ...(await exportJWK(key.publicKey)), kid: key.kid, alg: key.alg, use: 'sig' };
}

beforeAll(async () => {
  rsa = await signingKey('RS256', 'rsa-1');
  ec = await signingKey('ES256', 'ec-1');
  stranger = await signingKey('RS256', 'stranger');
  const body = JSON.stringify({ keys: [await publicJwk(rsa), await publicJwk(ec)] });
  server = createServer((request, response) => {
    jwksRequests++;
    if (request.url !== '/.well-known/jwks.json') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

function config(): JwtConfig {
  return { jwksUrl, issuer: ISSUER, audience: AUDIENCE };
}

const now = () => Math.floor(Date.now() / 1000);

/** A token as the provider would sign it, with `changes` applied to the claims and the key. */
async function token(
  claims: JWTPayload = {},
  options: { key?: SigningKey; kid?: string; omit?: string[] } = {},
): Promise<string> {
  const key = options.key ?? rsa;
  const payload: JWTPayload = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'alice',
    iat: now(),
    exp: now() + 600,
    scope: 'run manage',
    ...claims,
  };
  for (const name of options.omit ?? []) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: options.kid ?? key.kid }).sign(key.privateKey);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  expect((error as AuthError).status).toBe(401);
  return error as AuthError;
}

describe('tokens from an identity provider', () => {
  it('accepts a valid token: owner = sub, the scopes of `scope` with what they imply', async () => {
    const principal = await createTokenVerifier(config()).verify(await token());
    expect(principal).toMatchObject({ owner: 'alice', via: 'token', id: 'token:alice' });
    expect([...principal.scopes].sort()).toEqual(['manage', 'read', 'run']);
  });

  it('takes scopes from `scp` as an array or a string, ignoring unknown names', async () => {
    const verifier = createTokenVerifier(config());
    const array = await verifier.verify(await token({ scope: undefined, scp: ['read', 'openid', 'admin'] }));
    expect([...array.scopes].sort()).toEqual(['admin', 'manage', 'read', 'run']);
    const string = await verifier.verify(await token({ scope: undefined, scp: 'read profile' }));
    expect([...string.scopes]).toEqual(['read']);
    // Known nowhere: authenticated, but allowed nothing.
    const none = await verifier.verify(await token({ sub: 'bob', scope: 'openid email' }));
    expect(none).toMatchObject({ owner: 'bob', via: 'token' });
    expect(none.scopes.size).toBe(0);
    expect(scopesFromClaims({ scope: 'read  run', scp: ['run', 42, 'manage'] })).toEqual(['read', 'run', 'manage']);
  });

  it('accepts an ES256 token from the same key set', async () => {
    const principal = await createTokenVerifier(config()).verify(await token({ sub: 'carol' }, { key: ec }));
    expect(principal.owner).toBe('carol');
  });

  it('refuses an expired token, and one not valid yet', async () => {
    const verifier = createTokenVerifier(config());
    const expired = await refusal(verifier.verify(await token({ iat: now() - 7200, exp: now() - 3600 })));
    expect(expired.message).toContain('expired');
    const early = await refusal(verifier.verify(await token({ nbf: now() + 3600 })));
    expect(early.message).toContain('nbf');
  });

  it('refuses a token for another issuer or another audience', async () => {
    const verifier = createTokenVerifier(config());
    expect((await refusal(verifier.verify(await token({ iss: 'https://evil.test/' })))).message).toContain('iss');
    expect((await refusal(verifier.verify(await token({ aud: 'another-api' })))).message).toContain('aud');
  });

  it('refuses a token signed by a key that is not in the key set', async () => {
    const verifier = createTokenVerifier(config());
    const ownKid = await refusal(verifier.verify(await token({}, { key: stranger })));
    expect(ownKid.message).toContain("identity provider's keys");
    // Claiming a published key's kid does not help: the signature does not verify.
    const borrowedKid = await refusal(verifier.verify(await token({}, { key: stranger, kid: rsa.kid })));
    expect(borrowedKid.message).toContain('signature');
  });

  it('refuses `alg: none` and HS256 signed with the public key as the secret', async () => {
    const verifier = createTokenVerifier(config());
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp: now() + 600, scope: 'admin' };
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
    expect((await refusal(verifier.verify(unsigned))).message).toContain('algorithm');
    for (const secret of [
      new TextEncoder().encode(await exportSPKI(rsa.publicKey)),
      new TextEncoder().encode(JSON.stringify(await publicJwk(rsa))),
    ]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(secret);
      expect((await refusal(verifier.verify(forged))).message).toContain('algorithm');
    }
  });

  it('refuses malformed tokens, and tokens without exp or a usable sub', async () => {
    const verifier = createTokenVerifier(config());
    const valid = await token();
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    for (const malformed of ['a.b.c', '..', `${header}.${payload}.`, `${header}.!!!.${signature}`, `x${valid}`]) {
      const error = await refusal(verifier.verify(malformed));
      expect(error.message).not.toContain(malformed);
    }
    // A payload changed after signing.
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload;
    const tampered = `${header}.${base64url({ ...claims, sub: 'root' })}.${signature}`;
    expect((await refusal(verifier.verify(tampered))).message).toContain('signature');
    expect((await refusal(verifier.verify(await token({}, { omit: ['exp'] })))).message).toContain('exp');
    expect((await refusal(verifier.verify(await token({}, { omit: ['sub'] })))).message).toContain('sub');
    expect((await refusal(verifier.verify(await token({ sub: 'has space' })))).message).toContain('sub');
    // The local user's owner name is not an identity a provider can claim.
    expect((await refusal(verifier.verify(await token({ sub: 'local' })))).message).toContain('sub');
  });

  it('answers "unavailable", not "unauthenticated", when the key set cannot be fetched', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const verifier = createTokenVerifier({ ...config(), jwksUrl: `http://127.0.0.1:${port}/jwks.json` });
    const error = await verifier.verify(await token()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect(error).not.toBeInstanceOf(AuthError);
    // A URL that answers something else than a key set is the same.
    const notFound = createTokenVerifier({ ...config(), jwksUrl: jwksUrl.replace('jwks.json', 'nothing') });
    expect(await notFound.verify(await token()).catch((e: unknown) => e)).toBeInstanceOf(AuthUnavailableError);
  });

  it('fetches the key set once for many tokens', async () => {
    const verifier = createTokenVerifier(config());
    const before = jwksRequests;
    for (let i = 0; i < 5; i++) await verifier.verify(await token({ sub: `user-${i}` }));
    expect(jwksRequests - before).toBe(1);
  });
});

describe('tokens through the authenticator', () => {
  let dir: string;
  let database: OpenDatabase;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-jwt-'));
    database = await openDatabase(`file:${path.join(dir, 'gramian.db')}`);
  });
  afterAll(async () => {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a Bearer token and refuses a bad one, on loopback too', async () => {
    const auth = createAuthenticator({ mode: 'auto', host: '127.0.0.1', db: database.prisma, jwt: config() });
    expect(await auth.authenticate(`Bearer ${await token({ sub: 'dave' })}`)).toMatchObject({
      owner: 'dave',
      via: 'token',
    });
    const expired = await token({ exp: now() - 3600 });
    const error = await refusal(auth.authenticate(`Bearer ${expired}`));
    expect(error.message).not.toContain(expired);
    expect(auth.describe().join('\n')).toContain(ISSUER);
  });

  it('refuses tokens when none are configured, saying so', async () => {
    const auth = createAuthenticator({ mode: 'keys', host: '127.0.0.1', db: database.prisma });
    const error = await refusal(auth.authenticate(`Bearer ${await token()}`));
    expect(error.message).toContain('tokens are not configured');
  });
});
