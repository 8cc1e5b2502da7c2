// API keys: random secrets a script or an app sends as `Authorization: Bearer gmn_…`. The database keeps only the
// key's SHA-256 and a short prefix that tells keys apart in lists and logs; the key itself is shown once, at creation.
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { KeyInputError } from './auth-error.js';
import { expandScopes, isScope, LOCAL_OWNER, OWNER_PATTERN, SCOPES, type Principal, type Scope } from './principal.js';

/** What every key starts with, so a leaked one is recognisable (secret scanners) and told apart from a token. */
export const KEY_PREFIX = 'gmn_';
/** 32 random bytes in base64url, unpadded: 43 characters, 256 bits. */
const KEY_PATTERN = /^gmn_[A-Za-z0-9_-]{43}$/;
/** Characters of the key kept as its display prefix, `gmn_` included: 48 bits, too few to guess the rest. */
export const DISPLAY_PREFIX_LENGTH = 12;
const MAX_NAME_LENGTH = 80;
/** `lastUsedAt` is written at most this often per key, so that using a key is not a write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** A key as lists show it: everything but its hash. */
export interface ApiKeyInfo {
  id: string;
  prefix: string;
  name: string;
  owner: string;
  /** As granted, without the scopes they imply. */
  scopes: Scope[];
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface CreateApiKeyInput {
  name: string;
  /** Whose data the key sees and changes; LOCAL_OWNER by default. */
  owner?: string;
  /** A comma-separated list (`run,manage`) or an array of scope names. */
  scopes: string | readonly string[];
}

/** Why a key was refused. */
export type KeyCheck = { ok: true; principal: Principal } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' };

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether a string has the shape of an API key (not whether it is one). */
export function looksLikeApiKey(value: string): boolean {
  return KEY_PATTERN.test(value);
}

function parseScopes(scopes: string | readonly string[]): Scope[] {
  const names = (typeof scopes === 'string' ? scopes.split(',') : [...scopes]).map((s) => s.trim());
  const valid = SCOPES.join(', ');
  if (names.length === 0 || names.every((name) => name === ''))
    throw new KeyInputError('scopes', 'at least one scope is required', valid);
  const unknown = names.filter((name) => !isScope(name));
  if (unknown.length > 0) {
    const shown = unknown.map((name) => (name === '' ? '(empty)' : JSON.stringify(name))).join(', ');
    throw new KeyInputError('scopes', `unknown scope ${shown}`, valid);
  }
  // In SCOPES' order, each once.
  return SCOPES.filter((scope) => names.includes(scope));
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length < 1 || trimmed.length > MAX_NAME_LENGTH)
    throw new KeyInputError('name', `must be 1 to ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new KeyInputError('name', 'must not contain control characters');
  return trimmed;
}

function checkOwner(owner: string): string {
  if (!OWNER_PATTERN.test(owner))
    throw new KeyInputError('owner', 'must be 1 to 200 characters without spaces or control characters');
  return owner;
}

function info(row: {
  id: string;
  prefix: string;
  name: string;
  owner: string;
  scopes: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): ApiKeyInfo {
  return {
    id: row.id,
    prefix: row.prefix,
    name: row.name,
    owner: row.owner,
    scopes: row.scopes.split(',').filter(isScope),
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

const infoColumns = {
  id: true,
  prefix: true,
  name: true,
  owner: true,
  scopes: true,
  createdAt: true,
  lastUsedAt: true,
  revokedAt: true,
} as const;

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'P2002';
}

/** Makes a key. The returned `key` is the only copy there will ever be: show it once. */
export async function createApiKey(db: Db, input: CreateApiKeyInput): Promise<{ key: string; record: ApiKeyInfo }> {
  const name = checkName(input.name);
  const owner = checkOwner(input.owner ?? LOCAL_OWNER);
  const scopes = parseScopes(input.scopes);
  // A clash of two 256-bit keys will not happen; one of 48-bit prefixes is merely very unlikely. Either way: redraw.
  for (let attempt = 1; ; attempt++) {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    try {
      const row = await db.apiKey.create({
        data: {
          prefix: key.slice(0, DISPLAY_PREFIX_LENGTH),
          hash: hashApiKey(key),
          name,
          owner,
          scopes: scopes.join(','),
        },
        select: infoColumns,
      });
      return { key, record: info(row) };
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= 5) throw error;
    }
  }
}

/** Every key, newest first, revoked ones included; never a hash. */
export async function listApiKeys(db: Db): Promise<ApiKeyInfo[]> {
  const rows = await db.apiKey.findMany({ select: infoColumns, orderBy: [{ createdAt: 'desc' }, { id: 'asc' }] });
  return rows.map(info);
}

/**
 * Revokes a key named by its prefix, its id, or the key itself (a leaked one). Revoking a revoked key changes nothing:
 * `alreadyRevoked` says so, and `revokedAt` stays the first revocation's time.
 */
export async function revokeApiKey(
  db: Db,
  prefixOrId: string,
): Promise<{ record: ApiKeyInfo; alreadyRevoked: boolean }> {
  const value = prefixOrId.trim();
  const where = looksLikeApiKey(value) ? { hash: hashApiKey(value) } : { OR: [{ prefix: value }, { id: value }] };
  const row = value === '' ? null : await db.apiKey.findFirst({ where, select: infoColumns });
  if (!row) throw new KeyInputError('key', 'no API key has this prefix or id (`gramian keys list` shows them)');
  // Only if still unrevoked, so that of two revocations at once the first one's time stays.
  const { count } = await db.apiKey.updateMany({
    where: { id: row.id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  const record = info(await db.apiKey.findUniqueOrThrow({ where: { id: row.id }, select: infoColumns }));
  return { record, alreadyRevoked: count === 0 };
}

/** Checks a key and says why it is refused; records when it was last used (at most once a minute). */
export async function checkApiKey(db: Db, key: string): Promise<KeyCheck> {
  if (!looksLikeApiKey(key)) return { ok: false, reason: 'malformed' };
  // Looked up by its hash: the stored value is never compared with the key, so no timing tells its characters.
  const row = await db.apiKey.findUnique({ where: { hash: hashApiKey(key) } });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt) return { ok: false, reason: 'revoked' };
  const now = new Date();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    const due = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    try {
      // Conditional, so that concurrent requests with the same key write it once.
      await db.apiKey.updateMany({
        where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lte: due } }] },
        data: { lastUsedAt: now },
      });
    } catch {
      // Bookkeeping only: a busy database must not refuse a valid key.
    }
  }
  const scopes = row.scopes.split(',').filter(isScope);
  return { ok: true, principal: { owner: row.owner, scopes: expandScopes(scopes), via: 'key', id: row.prefix } };
}

/** The principal of a valid key; null for a malformed, unknown or revoked one. */
export async function verifyApiKey(db: Db, key: string): Promise<Principal | null> {
  const check = await checkApiKey(db, key);
  return check.ok ? check.principal : null;
}
