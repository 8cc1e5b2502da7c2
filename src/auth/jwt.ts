// Tokens from an identity provider (OIDC / OAuth 2 access tokens as JWTs), sent as `Authorization: Bearer …` as
// graphql-yoga's JWT plugin expects them. The signature is checked against the provider's published key set
// (AUTH_JWKS_URL, fetched and cached by jose), with asymmetric algorithms only, and the issuer and audience must match.
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { AuthError, AuthUnavailableError } from './auth-error.js';
import { expandScopes, isScope, LOCAL_OWNER, OWNER_PATTERN, type Principal, type Scope } from './principal.js';

export interface JwtConfig {
  /** The identity provider's JSON Web Key Set (http or https). */
  jwksUrl: string;
  /** The `iss` a token must carry. */
  issuer: string;
  /** The `aud` a token must carry (one of its audiences). */
  audience: string;
}

/**
 * Public-key signatures only: no `none`, and no HS* (with a shared secret, whoever verifies can also sign, and a
 * public key must never be usable as an HMAC secret).
 */
export const TOKEN_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** Clock difference tolerated between this server and the identity provider for `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_S = 30;

/** A compact JWS: three base64url parts separated by two dots (an API key has none). */
export function looksLikeJwt(value: string): boolean {
  return value.split('.').length === 3;
}

/**
 * The scopes a token grants: the OAuth 2 `scope` claim (space-separated) and `scp` (an array, or a string as some
 * providers write it). Names this server does not know are ignored.
 */
export function scopesFromClaims(payload: JWTPayload): Scope[] {
  const names: string[] = [];
  const add = (value: unknown) => {
    if (typeof value === 'string') names.push(...value.split(/\s+/));
    else if (Array.isArray(value)) for (const item of value) if (typeof item === 'string') names.push(item);
  };
  add(payload.scope);
  add(payload.scp);
  return [...new Set(names.filter(isScope))];
}

export interface TokenVerifier {
  readonly config: JwtConfig;
  /**
   * The principal of a valid token: owner `sub`, its known scopes. Throws AuthError for a token that is malformed,
   * expired, not yet valid, for another issuer or audience, signed with another key or algorithm, or without a
   * usable `sub`; AuthUnavailableError when the key set cannot be fetched.
   */
  verify(token: string): Promise<Principal>;
}

/** What a jose error says about the token, or undefined when it is not about the token (the key set failed). */
function tokenProblem(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      // jose's messages name the claim and the check, never its value: 'unexpected "iss" claim value'.
      return `the token is refused: ${(error as Error).message}`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return `the token's algorithm is not accepted (accepted: ${TOKEN_ALGORITHMS.join(', ')})`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return "the token's signature does not verify";
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return "the token is not signed with any of the identity provider's keys";
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'the token names no key (kid) and the identity provider has several that could have signed it';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'the token is malformed';
    default:
      return undefined;
  }
}

export function createTokenVerifier(config: JwtConfig): TokenVerifier {
  const jwks = createRemoteJWKSet(new URL(config.jwksUrl));
  return {
    config,
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, jwks, {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: [...TOKEN_ALGORITHMS],
          // A token that never expires is a key that cannot be revoked.
          requiredClaims: ['exp', 'sub'],
          clockTolerance: CLOCK_TOLERANCE_S,
        }));
      } catch (error) {
        const problem = tokenProblem(error);
        if (problem) throw new AuthError(problem);
        throw new AuthUnavailableError("could not check the token: the identity provider's key set is unavailable", {
          cause: error,
        });
      }
      const owner = payload.sub;
      // `local` is the owner of the local user and of data from before owners: no identity provider speaks for it.
      if (typeof owner !== 'string' || !OWNER_PATTERN.test(owner) || owner === LOCAL_OWNER)
        throw new AuthError('the token is refused: its "sub" claim is not a usable owner name');
      return { owner, scopes: expandScopes(scopesFromClaims(payload)), via: 'token', id: `token:${owner}` };
    },
  };
}
