// API keys on a real SQLite file: what is stored (only a hash), what verifies, and what is refused.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkApiKey,
  createApiKey,
  hashApiKey,
  listApiKeys,
  revokeApiKey,
  verifyApiKey,
} from '../src/auth/api-keys.js';
import { KeyInputError } from '../src/auth/auth-error.js';
import { openDatabase, type OpenDatabase } from '../src/storage/db.js';

let dir: string;
let database: OpenDatabase;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gramian-keys-'));
  database = await openDatabase(`file:${path.join(dir, 'gramian.db')}`);
});

afterEach(async () => {
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

/** The rows as SQLite holds them, read past Prisma. */
function rawRows(): Record<string, unknown>[] {
  const sqlite = new Database(database.file, { readonly: true });
  try {
    return sqlite.prepare('SELECT * FROM ApiKey').all() as Record<string, unknown>[];
  } finally {
    sqlite.close();
  }
}

async function inputError(promise: Promise<unknown>): Promise<KeyInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeyInputError);
  return error as KeyInputError;
}

describe('API keys', () => {
  it('verifies a created key to its owner and scopes (with what they imply), named by its prefix', async () => {
    const { key, record } = await createApiKey(database.prisma, { name: 'ci', owner: 'alice', scopes: 'run,manage' });
    expect(key).toMatch(/^gmn_[A-Za-z0-9_-]{43}$/);
    expect(record).toMatchObject({ name: 'ci', owner: 'alice', scopes: ['run', 'manage'], revokedAt: null });
    expect(key.startsWith(record.prefix)).toBe(true);
    const principal = await verifyApiKey(database.prisma, key);
    expect(principal).toMatchObject({ owner: 'alice', via: 'key', id: record.prefix });
    expect([...principal!.scopes].sort()).toEqual(['manage', 'read', 'run']);

    const admin = await createApiKey(database.prisma, { name: 'root', scopes: ['admin'] });
    const adminPrincipal = await verifyApiKey(database.prisma, admin.key);
    expect(adminPrincipal?.owner).toBe('local');
    expect([...adminPrincipal!.scopes].sort()).toEqual(['admin', 'manage', 'read', 'run']);
  });

  it('stores only the hash and a short prefix: no column holds the key or most of it', async () => {
    const { key } = await createApiKey(database.prisma, { name: 'ci', scopes: 'read' });
    const rows = rawRows();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.hash).toBe(hashApiKey(key));
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    for (const [column, value] of Object.entries(row)) {
      const text = String(value);
      expect([column, text.includes(key)]).toEqual([column, false]);
      // The prefix column holds the key's first 12 characters and nothing holds more: 31+ characters stay secret.
      expect([column, text.includes(key.slice(0, 13))]).toEqual([column, false]);
      expect([column, text.includes(key.slice(12))]).toEqual([column, false]);
    }
  });

  it('lists keys with their prefix, never a hash', async () => {
    const a = await createApiKey(database.prisma, { name: 'first', scopes: 'read' });
    const b = await createApiKey(database.prisma, { name: 'second', owner: 'bob', scopes: 'run' });
    const list = await listApiKeys(database.prisma);
    expect(list.map((k) => k.prefix).sort()).toEqual([a.record.prefix, b.record.prefix].sort());
    expect(list.find((k) => k.name === 'second')).toMatchObject({ owner: 'bob', scopes: ['run'], lastUsedAt: null });
    for (const entry of list) {
      expect(Object.keys(entry)).not.toContain('hash');
      expect(JSON.stringify(entry)).not.toContain(hashApiKey(a.key));
      expect(JSON.stringify(entry)).not.toContain(hashApiKey(b.key));
    }
  });

  it('refuses a revoked key, by prefix or by id, and says so', async () => {
    const byPrefix = await createApiKey(database.prisma, { name: 'a', scopes: 'read' });
    const byId = await createApiKey(database.prisma, { name: 'b', scopes: 'read' });
    const kept = await createApiKey(database.prisma, { name: 'c', scopes: 'read' });
    const first = await revokeApiKey(database.prisma, byPrefix.record.prefix);
    expect(first.alreadyRevoked).toBe(false);
    expect(first.record.revokedAt).toBeInstanceOf(Date);
    await revokeApiKey(database.prisma, byId.record.id);
    expect(await verifyApiKey(database.prisma, byPrefix.key)).toBeNull();
    expect(await checkApiKey(database.prisma, byId.key)).toEqual({ ok: false, reason: 'revoked' });
    expect(await verifyApiKey(database.prisma, kept.key)).not.toBeNull();
    const again = await revokeApiKey(database.prisma, byPrefix.record.prefix);
    expect(again).toMatchObject({ alreadyRevoked: true, record: { revokedAt: first.record.revokedAt } });
    expect((await inputError(revokeApiKey(database.prisma, 'gmn_nothing'))).field).toBe('key');
  });

  it('refuses malformed and unknown keys', async () => {
    const { key } = await createApiKey(database.prisma, { name: 'a', scopes: 'read' });
    const flipped = key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A');
    const cases: [string, string][] = [
      ['', 'malformed'],
      ['gmn_', 'malformed'],
      [key.slice(0, -1), 'malformed'],
      [`${key}x`, 'malformed'],
      [key.replace('gmn_', 'gmx_'), 'malformed'],
      [`${key.slice(0, -1)}!`, 'malformed'],
      [` ${key}`, 'malformed'],
      [flipped, 'unknown'],
      [`gmn_${'A'.repeat(43)}`, 'unknown'],
    ];
    for (const [candidate, reason] of cases) {
      expect([candidate, await checkApiKey(database.prisma, candidate)]).toEqual([candidate, { ok: false, reason }]);
      expect(await verifyApiKey(database.prisma, candidate)).toBeNull();
    }
    expect(await verifyApiKey(database.prisma, key)).not.toBeNull();
  });

  it('makes 1000 distinct keys of 256 random bits each', async () => {
    const keys = new Set<string>();
    const prefixes = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const { key, record } = await createApiKey(database.prisma, { name: `k${i}`, scopes: 'read' });
      keys.add(key);
      prefixes.add(record.prefix);
    }
    expect(keys.size).toBe(1000);
    expect(prefixes.size).toBe(1000);
    // 43 base64url characters carry 43 × 6 = 258 bits ≥ 256 ≥ 128; the alphabet is exactly base64url.
    for (const key of keys) expect(key).toMatch(/^gmn_[A-Za-z0-9_-]{43}$/);
    const alphabet = new Set([...keys].flatMap((key) => [...key.slice(4)]));
    expect(alphabet.size).toBe(64);
    expect(await database.prisma.apiKey.count()).toBe(1000);
  });

  it('records lastUsedAt on use, at most once a minute', async () => {
    const { key, record } = await createApiKey(database.prisma, { name: 'a', scopes: 'read' });
    const stored = () => database.prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } });
    expect((await stored()).lastUsedAt).toBeNull();
    await verifyApiKey(database.prisma, key);
    const firstUse = (await stored()).lastUsedAt;
    expect(firstUse).toBeInstanceOf(Date);
    expect((await listApiKeys(database.prisma))[0]!.lastUsedAt).toEqual(firstUse);
    // A second use within the minute writes nothing.
    await verifyApiKey(database.prisma, key);
    expect((await stored()).lastUsedAt).toEqual(firstUse);
    // Once the last recorded use is over a minute old, the next use is recorded.
    const longAgo = new Date(Date.now() - 2 * 60_000);
    await database.prisma.apiKey.update({ where: { id: record.id }, data: { lastUsedAt: longAgo } });
    await verifyApiKey(database.prisma, key);
    expect((await stored()).lastUsedAt!.getTime()).toBeGreaterThan(longAgo.getTime());
    // A refused (revoked) key is not a use.
    await database.prisma.apiKey.update({ where: { id: record.id }, data: { lastUsedAt: longAgo } });
    await revokeApiKey(database.prisma, record.prefix);
    await verifyApiKey(database.prisma, key);
    expect((await stored()).lastUsedAt).toEqual(longAgo);
  });

  it('refuses a bad name, owner or scope list, naming the field and the valid scopes', async () => {
    const unknown = await inputError(createApiKey(database.prisma, { name: 'a', scopes: 'read,superuser' }));
    expect(unknown.field).toBe('scopes');
    expect(unknown.validValues).toBe('read, run, manage, admin');
    expect(unknown.message).toContain('superuser');
    expect((await inputError(createApiKey(database.prisma, { name: 'a', scopes: '' }))).field).toBe('scopes');
    expect((await inputError(createApiKey(database.prisma, { name: 'a', scopes: 'read,' }))).field).toBe('scopes');
    expect((await inputError(createApiKey(database.prisma, { name: 'a', scopes: [] }))).field).toBe('scopes');
    expect((await inputError(createApiKey(database.prisma, { name: '', scopes: 'read' }))).field).toBe('name');
    expect((await inputError(createApiKey(database.prisma, { name: 'x'.repeat(81), scopes: 'read' }))).field).toBe(
      'name',
    );
    for (const owner of ['', 'has space', 'tab\there'])
      expect((await inputError(createApiKey(database.prisma, { name: 'a', owner, scopes: 'read' }))).field).toBe(
        'owner',
      );
    expect(await database.prisma.apiKey.count()).toBe(0);
    // Names are trimmed; scopes are de-duplicated and spaces around them ignored.
    const ok = await createApiKey(database.prisma, { name: ' x ', scopes: ' read , run,read' });
    expect(ok.record).toMatchObject({ name: 'x', scopes: ['read', 'run'] });
  });
});
