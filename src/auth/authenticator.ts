// Who sends a request: the principal for an `Authorization` header, by the server's mode (GRAMIAN_AUTH).
//   auto  credentials are needed unless the server listens on a loopback address only (the default: one user, local)
//   keys  credentials are always needed
//   off   never: every request is the local admin, credentials are not even read
// In auto and keys, credentials that are sent are always checked: a wrong key is refused even on loopback.
import { BlockList, isIP } from 'node:net';
import type { Db } from '../storage/db.js';
import { checkApiKey, KEY_PREFIX } from './api-keys.js';
import { AuthError, AuthUnavailableError } from './auth-error.js';
import { createTokenVerifier, looksLikeJwt, type JwtConfig, type TokenVerifier } from './jwt.js';
import { LOCAL_PRINCIPAL, type Principal } from './principal.js';

export { AuthError, AuthUnavailableError };

export const AUTH_MODES = ['auto', 'keys', 'off'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export function isAuthMode(value: string): value is AuthMode {
  return (AUTH_MODES as readonly string[]).includes(value);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether a listening address is reachable from this machine only: 127.0.0.0/8, ::1 (or `[::1]`), localhost. */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name === 'localhost.') return true;
  const family = isIP(name);
  // IPv4-mapped IPv6 (::ffff:127.0.0.1) counts as what it maps.
  return family !== 0 && LOOPBACK.check(name, family === 6 ? 'ipv6' : 'ipv4');
}

export interface Authenticator {
  readonly mode: AuthMode;
  /** Whether a request without credentials is refused. */
  readonly required: boolean;
  /**
   * The principal for an Authorization header value ('Bearer …'), or for none (LOCAL_PRINCIPAL when not required).
   * Throws AuthError when credentials are required but missing, or given but wrong (unknown/revoked key, bad token,
   * not a Bearer scheme), with a message that says which (never echoing the credential); AuthUnavailableError when a
   * token cannot be checked because the identity provider's key set is unreachable.
   */
  authenticate(authorization: string | null | undefined): Promise<Principal>;
  /** Lines for the start-up log: the mode, and a loud warning for `off` on a non-loopback address. */
  describe(): string[];
}

export interface AuthenticatorOptions {
  mode: AuthMode;
  /** The address the server listens on (HOST). */
  host: string;
  db: Db;
  /** Tokens from an identity provider (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE); API keys only without. */
  jwt?: JwtConfig;
}

const HOW_TO = 'send "Authorization: Bearer <API key or token>" (`gramian keys create` makes a key)';

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { mode, host, db } = options;
  const loopback = isLoopbackHost(host);
  const required = mode === 'keys' || (mode === 'auto' && !loopback);
  const tokens: TokenVerifier | undefined = options.jwt ? createTokenVerifier(options.jwt) : undefined;

  async function check(credential: string): Promise<Principal> {
    if (credential.startsWith(KEY_PREFIX)) {
      const result = await checkApiKey(db, credential);
      if (result.ok) return result.principal;
      const why = { malformed: 'is malformed', unknown: 'is not known here', revoked: 'has been revoked' };
      throw new AuthError(`the API key ${why[result.reason]}`);
    }
    if (looksLikeJwt(credential)) {
      if (!tokens) throw new AuthError('tokens are not configured on this server (AUTH_JWKS_URL); use an API key');
      return tokens.verify(credential);
    }
    throw new AuthError('the credential is neither an API key (gmn_…) nor a token (a JWT)');
  }

  return {
    mode,
    required,
    async authenticate(authorization) {
      if (mode === 'off') return LOCAL_PRINCIPAL;
      const header = authorization?.trim() ?? '';
      if (header === '') {
        if (required) throw new AuthError(`credentials are required: ${HOW_TO}`);
        return LOCAL_PRINCIPAL;
      }
      // RFC 7235: the scheme is case-insensitive. The rest is not echoed: it may be a secret in the wrong place.
      const match = /^Bearer +(\S+)$/i.exec(header);
      if (!match) throw new AuthError(`the Authorization header must be "Bearer <API key or token>"`);
      return check(match[1]!);
    },
    describe() {
      const jwt = tokens?.config;
      const tokenLine = jwt
        ? `tokens from issuer ${jwt.issuer} (audience ${jwt.audience}, keys ${jwt.jwksUrl})`
        : 'no tokens (AUTH_JWKS_URL is not set)';
      if (mode === 'off') {
        const lines = [`authentication: off (GRAMIAN_AUTH=off): every request acts as the local admin`];
        if (!loopback) {
          lines.push(
            `WARNING: AUTHENTICATION IS OFF ON ${host}, A NON-LOOPBACK ADDRESS: ANYONE WHO CAN REACH THIS PORT CAN ` +
              'READ, CHANGE AND DELETE EVERYTHING. Set GRAMIAN_AUTH=auto or keys, or HOST=127.0.0.1.',
          );
        }
        return lines;
      }
      if (!required) {
        return [
          `authentication: ${mode}: no credentials needed on the loopback address ${host} (requests act as the ` +
            'local admin); API keys and tokens that are sent are checked',
          `authentication accepts API keys and ${tokenLine}`,
        ];
      }
      return [
        `authentication: ${mode}: credentials required on ${host}`,
        `authentication accepts API keys and ${tokenLine}`,
      ];
    },
  };
}
