import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { errors } from '../domain/errors.js';
import type { Principal } from '../domain/security-action.js';
import { joseToUnauthenticated } from './jose-errors.js';
import type { ExternalIssuers } from './external-issuers.js';
import type { SigningKeys } from './signing-keys.js';
import { issuerFor } from './token-issuer.js';

export interface VerifierSettings {
  baseUrl: string;
  /** Audiences accepted for locally issued tokens. */
  audiences: string[];
  clockToleranceSeconds: number;
  cacheSize?: number;
}

const tenantPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const maxTokenLength = 16 * 1024;

/**
 * Verifies bearer tokens strictly: structure, algorithm allow-list (no `none`, no HMAC), signature,
 * issuer, audience, `exp`/`nbf`, and the tenant claim. Verified tokens are cached until they expire,
 * keyed by the full token string, so the hot path costs a map lookup (docs/decisions/0005-performance.md).
 */
export class TokenVerifier {
  private readonly cache = new Map<string, { principal: Principal; expiresAt: number }>();
  private readonly localJwks: () => ReturnType<typeof createLocalJWKSet>;
  private jwksSet?: ReturnType<typeof createLocalJWKSet>;
  private jwksKeyCount = -1;

  constructor(
    private readonly keys: SigningKeys,
    private readonly settings: VerifierSettings,
    private readonly external: ExternalIssuers,
    private readonly now: () => number = Date.now,
  ) {
    this.localJwks = () => {
      const jwks = this.keys.jwks();
      if (!this.jwksSet || jwks.keys.length !== this.jwksKeyCount) {
        this.jwksSet = createLocalJWKSet(jwks);
        this.jwksKeyCount = jwks.keys.length;
      }
      return this.jwksSet;
    };
  }

  async verify(token: string): Promise<Principal> {
    const cached = this.cache.get(token);
    if (cached && cached.expiresAt > this.now()) return cached.principal;
    if (cached) this.cache.delete(token);

    if (token.length > maxTokenLength || token.split('.').length !== 3) throw errors.unauthenticated('The access token is malformed.');
    let unverified: JWTPayload;
    let alg: string | undefined;
    try {
      unverified = decodeJwt(token);
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw errors.unauthenticated('The access token is malformed.');
    }
    if (!alg || alg === 'none') throw errors.unauthenticated('The access token signing algorithm is not allowed.');

    const tid = typeof unverified['tid'] === 'string' ? unverified['tid'] : undefined;
    const payload =
      tid && unverified.iss === issuerFor(this.settings.baseUrl, tid)
        ? await this.verifyLocal(token, tid)
        : await this.external.verify(token, unverified, this.settings.clockToleranceSeconds);

    const principal = toPrincipal(payload.claims, payload.tenantId, 'roles' in payload ? payload.roles : payload.claims['roles']);
    const exp = typeof payload.claims.exp === 'number' ? payload.claims.exp * 1000 : this.now() + 60_000;
    this.remember(token, principal, exp);
    return principal;
  }

  private async verifyLocal(token: string, tid: string): Promise<{ claims: JWTPayload; tenantId: string; roles?: unknown }> {
    if (!tenantPattern.test(tid)) throw errors.unauthenticated('The access token tenant (tid) is invalid.');
    const options = {
      issuer: issuerFor(this.settings.baseUrl, tid),
      audience: this.settings.audiences,
      algorithms: ['RS256', 'ES256'],
      clockTolerance: this.settings.clockToleranceSeconds,
      requiredClaims: ['exp', 'iat', 'tid'],
    };
    try {
      return { claims: (await jwtVerify(token, this.localJwks(), options)).payload, tenantId: tid };
    } catch (e) {
      // A key created by another node after we loaded ours: re-read once, then retry.
      if (e instanceof Error && e.name === 'JWKSNoMatchingKey') {
        await this.keys.refresh();
        try {
          return { claims: (await jwtVerify(token, this.localJwks(), options)).payload, tenantId: tid };
        } catch (again) {
          throw joseToUnauthenticated(again);
        }
      }
      throw joseToUnauthenticated(e);
    }
  }

  private remember(token: string, principal: Principal, expiresAt: number): void {
    const max = this.settings.cacheSize ?? 10_000;
    if (this.cache.size >= max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(token, { principal, expiresAt });
  }
}

/**
 * Claims → principal. App-only tokens carry `roles`; a delegated token (`scp` without `roles`) is
 * authenticated but gets no roles, so every securityActions route answers 403, as Graph does.
 */
export function toPrincipal(claims: JWTPayload, tenantId: string, roleClaim: unknown = claims['roles']): Principal {
  const appId = str(claims['appid']) ?? str(claims['azp']) ?? str(claims['client_id']) ?? str(claims.sub);
  if (!appId) throw errors.unauthenticated('The access token names no application (appid/azp).');
  const roles = Array.isArray(roleClaim) ? roleClaim.filter((r): r is string => typeof r === 'string') : [];
  const delegated = typeof claims['scp'] === 'string' && roles.length === 0;
  return {
    tenantId,
    appId,
    user: str(claims['upn']) ?? str(claims['preferred_username']) ?? null,
    roles: new Set(delegated ? [] : roles),
    ...(delegated ? { delegated: true } : {}),
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 256 ? v : undefined);
