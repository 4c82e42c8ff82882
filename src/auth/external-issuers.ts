import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { errors } from '../domain/errors.js';
import { joseToUnauthenticated } from './jose-errors.js';

/**
 * An external OpenID Connect issuer whose access tokens Bulwark accepts (Microsoft Entra ID,
 * Keycloak, …). `issuer` may contain `{tenantid}` (Entra's multi-tenant form); the token's tenant
 * claim fills it in before the exact issuer comparison.
 */
export interface TrustedIssuerConfig {
  issuer: string;
  audience: string[];
  /** Discovery document; default `{issuer}/.well-known/openid-configuration`. */
  discoveryUrl?: string | undefined;
  /** Skip discovery and use this JWKS directly. */
  jwksUri?: string | undefined;
  /** Claim holding the tenant id; default `tid`. */
  tenantClaim: string;
  /** Fixed tenant for issuers without a tenant claim (e.g. one Keycloak realm = one tenant). */
  tenantId?: string | undefined;
  /** Claim holding app roles, dotted path allowed (`realm_access.roles`); default `roles`. */
  rolesClaim: string;
  allowedTenants?: string[] | undefined;
  algorithms: string[];
}

type Fetch = (url: string, init?: { signal?: AbortSignal }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export class ExternalIssuers {
  private readonly jwks = new Map<TrustedIssuerConfig, ReturnType<typeof createRemoteJWKSet>>();

  constructor(private readonly issuers: TrustedIssuerConfig[], private readonly fetchImpl: Fetch = fetch) {}

  get count(): number {
    return this.issuers.length;
  }

  async verify(token: string, unverified: JWTPayload, clockTolerance: number): Promise<{ claims: JWTPayload; tenantId: string; roles: unknown }> {
    const iss = typeof unverified.iss === 'string' ? unverified.iss : '';
    for (const cfg of this.issuers) {
      const tenantId = cfg.tenantId ?? claimAt(unverified, cfg.tenantClaim);
      if (typeof tenantId !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(tenantId)) continue;
      const expected = cfg.issuer.replace('{tenantid}', tenantId);
      if (expected !== iss) continue;
      if (cfg.allowedTenants && !cfg.allowedTenants.includes(tenantId)) {
        throw errors.unauthenticated(`Tenant '${tenantId}' is not allowed for issuer ${cfg.issuer}.`);
      }
      let claims: JWTPayload;
      try {
        const keys = await this.keySet(cfg, tenantId);
        claims = (await jwtVerify(token, keys, { issuer: expected, audience: cfg.audience, algorithms: cfg.algorithms, clockTolerance })).payload;
      } catch (e) {
        throw joseToUnauthenticated(e);
      }
      return { claims, tenantId, roles: claimAt(claims, cfg.rolesClaim) };
    }
    throw errors.unauthenticated('The access token was issued by an issuer this service does not trust.');
  }

  private async keySet(cfg: TrustedIssuerConfig, tenantId: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const existing = this.jwks.get(cfg);
    if (existing) return existing;
    const jwksUri = cfg.jwksUri ?? (await this.discover(cfg, tenantId));
    const set = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    this.jwks.set(cfg, set);
    return set;
  }

  private async discover(cfg: TrustedIssuerConfig, tenantId: string): Promise<string> {
    const url = cfg.discoveryUrl ?? `${cfg.issuer.replace('{tenantid}', tenantId)}/.well-known/openid-configuration`;
    const res = await this.fetchImpl(url, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (!res?.ok) throw errors.unauthenticated("The token issuer's discovery document could not be retrieved.");
    const doc = (await res.json().catch(() => undefined)) as { jwks_uri?: unknown } | undefined;
    if (typeof doc?.jwks_uri !== 'string') throw errors.unauthenticated("The token issuer's discovery document has no jwks_uri.");
    return doc.jwks_uri;
  }
}

function claimAt(claims: JWTPayload, path: string): unknown {
  let v: unknown = claims;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}
