// The authenticator's modes (GRAMIAN_AUTH) against the address the server listens on, with real keys in a real
// database: who needs credentials, what is refused, and what the start-up log says.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, revokeApiKey } from '../src/auth/api-keys.js';
import { AuthError, createAuthenticator, isLoopbackHost, type AuthMode } from '../src/auth/authenticator.js';
import { LOCAL_PRINCIPAL } from '../src/auth/principal.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';

let dir: string;
let database: OpenDatabase;
let key: string;
let revoked: string;
/** Has the shape of a key but was never created. */
const unknownKey = `gmn_${'x'.repeat(43)}`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-auth-'));
  database = await openDatabase(`file:${path.join(dir, 'gramian.db')}`);
  ({ key } = await createApiKey(database.prisma, { name: 'bot', owner: 'erin', scopes: 'read' }));
  const old = await createApiKey(database.prisma, { name: 'old', scopes: 'admin' });
  revoked = old.key;
  await revokeApiKey(database.prisma, old.record.prefix);
});

afterAll(async () => {
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

function authenticator(mode: AuthMode, host: string) {
  return createAuthenticator({ mode, host, db: database.prisma });
}

async function refusal(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AuthError);
  expect(error).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  return error as AuthError;
}

describe('authentication modes', () => {
  it('auto on a loopback address needs no credentials: the local admin', async () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) {
      const auth = authenticator('auto', host);
      expect([host, auth.required]).toEqual([host, false]);
      for (const none of [undefined, null, '', '   ']) expect(await auth.authenticate(none)).toBe(LOCAL_PRINCIPAL);
    }
  });

  it('auto on any other address refuses a request without credentials', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.5', 'gramian.example', '::ffff:10.0.0.1']) {
      const auth = authenticator('auto', host);
      expect([host, auth.required]).toEqual([host, true]);
      const error = await refusal(auth.authenticate(undefined));
      expect(error.message).toContain('credentials are required');
    }
  });

  it('keys mode refuses a request without credentials even on loopback', async () => {
    const auth = authenticator('keys', '127.0.0.1');
    expect(auth.required).toBe(true);
    await refusal(auth.authenticate(null));
    await refusal(auth.authenticate(''));
    expect(await auth.authenticate(`Bearer ${key}`)).toMatchObject({ owner: 'erin', via: 'key' });
  });

  it('accepts a valid key in auto mode, on loopback and off it', async () => {
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const principal = await authenticator('auto', host).authenticate(`Bearer ${key}`);
      expect(principal).toMatchObject({ owner: 'erin', via: 'key', id: key.slice(0, 12) });
      expect([...principal.scopes]).toEqual(['read']);
      // The scheme is case-insensitive (RFC 7235).
      expect((await authenticator('auto', host).authenticate(`bearer ${key}`)).owner).toBe('erin');
    }
  });

  it('refuses wrong credentials on loopback in auto mode, saying why and never echoing them', async () => {
    const auth = authenticator('auto', '127.0.0.1');
    const cases: [string, string][] = [
      [`Bearer ${unknownKey}`, 'not known'],
      [`Bearer ${revoked}`, 'revoked'],
      [`Bearer ${key.slice(0, 20)}`, 'malformed'],
      [`Bearer not-a-credential`, 'neither an API key'],
      [`Basic ${Buffer.from('user:secret-password').toString('base64')}`, 'Bearer'],
      [key, 'Bearer'],
      ['Bearer', 'Bearer'],
      [`Bearer ${key} extra`, 'Bearer'],
    ];
    for (const [header, reason] of cases) {
      const error = await refusal(auth.authenticate(header));
      expect([header, error.message]).toEqual([header, expect.stringContaining(reason)]);
      for (const secret of [key, revoked, unknownKey, 'secret-password', 'not-a-credential', 'dXNlcjpzZWNyZXQ'])
        expect([header, error.message.includes(secret)]).toEqual([header, false]);
    }
  });

  it('off: everyone is the local admin, credentials are not even read', async () => {
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const auth = authenticator('off', host);
      expect(auth.required).toBe(false);
      for (const header of [undefined, `Bearer ${unknownKey}`, `Bearer ${revoked}`, `Bearer ${key}`, 'Basic abc'])
        expect(await auth.authenticate(header)).toBe(LOCAL_PRINCIPAL);
    }
  });

  it('describes the mode for the start-up log, loudly warning about off on a non-loopback address', () => {
    const loud = authenticator('off', '0.0.0.0').describe().join('\n');
    expect(loud).toMatch(/WARNING/);
    expect(loud).toContain('0.0.0.0');
    expect(loud).toMatch(/ANYONE/);
    expect(authenticator('off', '127.0.0.1').describe().join('\n')).not.toMatch(/WARNING/);
    expect(authenticator('auto', '127.0.0.1').describe().join('\n')).toContain('no credentials needed');
    expect(authenticator('auto', '0.0.0.0').describe().join('\n')).toContain('credentials required');
    expect(authenticator('keys', '127.0.0.1').describe().join('\n')).toContain('credentials required');
    expect(authenticator('keys', '127.0.0.1').describe().join('\n')).toContain('no tokens');
  });

  it('tells loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.255.255.254', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost'])
      expect([host, isLoopbackHost(host)]).toEqual([host, true]);
    for (const host of ['0.0.0.0', '::', '128.0.0.1', '1.127.0.0', 'localhost.example', '', '10.0.0.1', '::2'])
      expect([host, isLoopbackHost(host)]).toEqual([host, false]);
  });
});

describe('authentication configuration', () => {
  it('listens on loopback with auth auto by default', () => {
    const config = loadConfig({ DATA_DIR: dir });
    expect(config).toMatchObject({ host: '127.0.0.1', auth: 'auto' });
    expect(config.jwt).toBeUndefined();
    expect(loadConfig({ DATA_DIR: dir, HOST: '0.0.0.0', GRAMIAN_AUTH: 'keys' })).toMatchObject({
      host: '0.0.0.0',
      auth: 'keys',
    });
  });

  it('reads the identity provider, all three settings together', () => {
    const env = {
      DATA_DIR: dir,
      AUTH_JWKS_URL: 'https://idp.example/.well-known/jwks.json',
      AUTH_ISSUER: 'https://idp.example/',
      AUTH_AUDIENCE: 'gramian',
    };
    expect(loadConfig(env).jwt).toEqual({
      jwksUrl: 'https://idp.example/.well-known/jwks.json',
      issuer: 'https://idp.example/',
      audience: 'gramian',
    });
  });

  it.each([
    [{ GRAMIAN_AUTH: 'none' }, 1, ['GRAMIAN_AUTH=none is not one of auto, keys, off']],
    [{ AUTH_JWKS_URL: 'ftp://idp.example/jwks', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' }, 1, ['AUTH_JWKS_URL=ftp']],
    [{ AUTH_JWKS_URL: 'not a url', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a' }, 1, ['AUTH_JWKS_URL=not a url']],
    [{ AUTH_JWKS_URL: 'https://idp.example/jwks' }, 2, ['AUTH_ISSUER is required', 'AUTH_AUDIENCE is required']],
    [{ AUTH_ISSUER: 'i' }, 1, ['AUTH_ISSUER needs AUTH_JWKS_URL']],
    [{ AUTH_AUDIENCE: 'a', GRAMIAN_AUTH: 'on' }, 2, ['AUTH_AUDIENCE needs AUTH_JWKS_URL', 'GRAMIAN_AUTH=on']],
  ])('reports %j as a configuration problem', (env, count, messages) => {
    let error: unknown;
    try {
      loadConfig({ DATA_DIR: dir, ...env });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(count);
    for (const message of messages) expect((error as Error).message).toContain(message);
  });
});
