// Who is asking: the owner whose runs, images, styles, presets and models a request sees and changes, and the
// scopes that say what it may do. Every request has one, from an API key, a token, or being the local user.

/** What a principal may do. `admin` implies every other; `run` and `manage` imply `read` (one reads what one makes). */
export const SCOPES = ['read', 'run', 'manage', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** The owner of what everyone may use and only admins change: built-in presets, catalogue models, their previews. */
export const SHARED_OWNER = '';

/** The owner of what the local user makes (no credentials needed on a loopback address), and of older data. */
export const LOCAL_OWNER = 'local';

export interface Principal {
  /** Never SHARED_OWNER. */
  owner: string;
  scopes: ReadonlySet<Scope>;
  /** How it was established. */
  via: 'local' | 'key' | 'token';
  /** Names it in logs and per-principal limits: the key's prefix, the token's subject, or `local`. */
  id: string;
}

const IMPLIED: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  run: ['run', 'read'],
  manage: ['manage', 'read'],
  admin: SCOPES,
};

/** The scopes a list grants, with what each implies. */
export function expandScopes(scopes: Iterable<Scope>): ReadonlySet<Scope> {
  return new Set([...scopes].flatMap((scope) => IMPLIED[scope]));
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function can(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has(scope);
}

export function isAdmin(principal: Principal): boolean {
  return principal.scopes.has('admin');
}

/** The local user when no credentials are needed: an admin, owner LOCAL_OWNER. */
export const LOCAL_PRINCIPAL: Principal = {
  owner: LOCAL_OWNER,
  scopes: expandScopes(['admin']),
  via: 'local',
  id: 'local',
};

/** Owner names: what a key's --owner or a token's `sub` may be: 1 to 200 visible characters ('' is SHARED_OWNER). */
export const OWNER_PATTERN = /^[^\s\p{Cc}]{1,200}$/u;
