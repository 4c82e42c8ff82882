import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { SigningKeys } from './signing-keys.js';

export interface IssueRequest {
  tenantId: string;
  appId: string;
  roles: string[];
  user?: string | null | undefined;
  lifetimeSeconds?: number | undefined;
}

export interface IssuerSettings {
  /** Public base URL of the service, e.g. `https://bulwark.example:8443` (no trailing slash). */
  baseUrl: string;
  /** `aud` of issued tokens. */
  audience: string;
  lifetimeSeconds: number;
}

/** `iss` of tokens issued for a tenant, shaped like Microsoft Entra ID v2: `{base}/{tid}/v2.0`. */
export function issuerFor(baseUrl: string, tenantId: string): string {
  return `${baseUrl}/${tenantId}/v2.0`;
}

/**
 * Issues access tokens with the claims Entra ID puts in app-only v2 tokens (`tid`, `appid`, `azp`,
 * `roles`, `idtyp`, `ver`) so scripts that decode tokens keep working, plus `upn` when a user is
 * named (operator tokens from `bulwark token --user`).
 */
export class TokenIssuer {
  constructor(private readonly keys: SigningKeys, private readonly settings: IssuerSettings, private readonly now: () => number = Date.now) {}

  async issue(req: IssueRequest): Promise<{ accessToken: string; expiresIn: number }> {
    const lifetime = req.lifetimeSeconds ?? this.settings.lifetimeSeconds;
    const iat = Math.floor(this.now() / 1000);
    const { kid, alg, key } = this.keys.signingKey();
    const claims: Record<string, unknown> = {
      tid: req.tenantId,
      appid: req.appId,
      azp: req.appId,
      roles: req.roles,
      idtyp: req.user ? 'user' : 'app',
      ver: '2.0',
    };
    if (req.user) claims['upn'] = req.user;
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(issuerFor(this.settings.baseUrl, req.tenantId))
      .setAudience(this.settings.audience)
      .setSubject(req.user ?? req.appId)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + lifetime)
      .setJti(randomUUID())
      .sign(key);
    return { accessToken, expiresIn: lifetime };
  }
}
