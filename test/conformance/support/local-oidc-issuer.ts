import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface IssuerRoute {
  /** path of the discovery document, e.g. `/realms/bulwark/.well-known/openid-configuration` */
  discoveryPath: string;
  /** `issuer` announced in the document (may contain Entra's `{tenantid}` placeholder) */
  issuer: string;
  /** path of the JWKS */
  jwksPath: string;
}

/**
 * A small, real OpenID Connect issuer on 127.0.0.1 — a local stand-in for Microsoft Entra ID or
 * Keycloak: it serves discovery documents and a JWKS over HTTP and signs RS256 access tokens with
 * jose. It also holds keys it never publishes, for "unknown kid" and "wrong key" tokens, and logs
 * every request so a test can tell that Bulwark really fetched discovery and keys.
 */
export class LocalOidcIssuer {
  readonly requests: string[] = [];
  private readonly routes = new Map<string, unknown>();

  private constructor(
    private readonly server: http.Server,
    readonly base: string,
    /** published in every JWKS */
    readonly signingKey: { kid: string; privateKey: PrivateKey; publicJwk: JWK },
    /** never published */
    readonly strayKey: { privateKey: PrivateKey },
  ) {}

  static async start(): Promise<LocalOidcIssuer> {
    const published = await generateKeyPair('RS256', { extractable: true });
    const stray = await generateKeyPair('RS256', { extractable: true });
    let issuer: LocalOidcIssuer | undefined;
    const server = http.createServer((req, res) => {
      issuer!.requests.push(req.url ?? '');
      const body = issuer!.routes.get((req.url ?? '').split('?')[0] ?? '');
      res.setHeader('content-type', 'application/json');
      if (req.method !== 'GET' || body === undefined) {
        res.statusCode = 404;
        res.end('{"error":"not_found"}');
        return;
      }
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const kid = `local-${randomUUID().slice(0, 8)}`;
    issuer = new LocalOidcIssuer(
      server,
      base,
      { kid, privateKey: published.privateKey, publicJwk: { ...(await exportJWK(published.publicKey)), kid, alg: 'RS256', use: 'sig' } },
      { privateKey: stray.privateKey },
    );
    return issuer;
  }

  /** Serves a discovery document and its JWKS (the published key only). */
  addIssuer(route: IssuerRoute): void {
    this.routes.set(route.discoveryPath, {
      issuer: route.issuer,
      jwks_uri: `${this.base}${route.jwksPath}`,
      authorization_endpoint: `${this.base}/authorize`,
      token_endpoint: `${this.base}/token`,
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
    });
    this.routes.set(route.jwksPath, { keys: [this.signingKey.publicJwk] });
  }

  requested(path: string): number {
    return this.requests.filter((r) => r.split('?')[0] === path).length;
  }

  /**
   * Signs an access token. Defaults: the published key and kid, iat/nbf now, exp in an hour.
   * `key: 'stray'` signs with the unpublished key; `kid` overrides the header's kid.
   */
  async sign(claims: JWTPayload, options: { key?: 'published' | 'stray'; kid?: string; iat?: number; exp?: number } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const iat = options.iat ?? now;
    const key = options.key === 'stray' ? this.strayKey.privateKey : this.signingKey.privateKey;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: options.kid ?? this.signingKey.kid })
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(options.exp ?? iat + 3600)
      .setJti(randomUUID())
      .sign(key);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
