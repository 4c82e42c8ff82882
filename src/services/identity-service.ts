import { randomUUID } from 'node:crypto';
import { generateSecret, hashSecret, secretMatches } from '../auth/secrets.js';
import type { TokenIssuer } from '../auth/token-issuer.js';
import { roles as knownRoles } from '../domain/security-action.js';
import type { AppRecord, IdentityStore } from '../storage/ports.js';

/** An OAuth 2.0 error as the token endpoint returns it (RFC 6749 §5.2, shaped like Entra ID's). */
export class OAuthError extends Error {
  constructor(readonly error: string, readonly description: string, readonly status: number) {
    super(description);
  }
}

export interface ClientCredentialsRequest {
  tenantId: string;
  grantType: string | undefined;
  clientId: string | undefined;
  clientSecret: string | undefined;
  scope: string | undefined;
}

export const tenantIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const assignableRoles: readonly string[] = [knownRoles.read, knownRoles.readWrite];

/** Application registration and the client-credentials grant. */
export class IdentityService {
  constructor(
    private readonly store: IdentityStore,
    private readonly issuer: TokenIssuer,
    private readonly settings: { audience: string; baseUrl: string },
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers an app; the secret is returned once and only its hash is stored. */
  async createApp(tenantId: string, name: string, roles: string[]): Promise<{ app: AppRecord; clientSecret: string }> {
    if (!tenantIdPattern.test(tenantId)) throw new Error(`invalid tenant id '${tenantId}'`);
    if (!name || name.length > 128) throw new Error('app name must be 1..128 characters');
    const unknown = roles.filter((r) => !assignableRoles.includes(r));
    if (roles.length === 0 || unknown.length > 0) {
      throw new Error(`roles must be one or more of: ${assignableRoles.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`);
    }
    const clientSecret = generateSecret('bws_');
    const app: AppRecord = {
      clientId: randomUUID(), tenantId, name, secretHash: hashSecret(clientSecret), roles: [...new Set(roles)],
      createdAt: this.now(), disabledAt: null,
    };
    await this.store.createApp(app);
    return { app, clientSecret };
  }

  async clientCredentials(req: ClientCredentialsRequest): Promise<{ accessToken: string; expiresIn: number }> {
    if (!tenantIdPattern.test(req.tenantId)) throw new OAuthError('invalid_request', `Tenant '${req.tenantId.slice(0, 64)}' is not valid.`, 400);
    if (req.grantType !== 'client_credentials') {
      throw new OAuthError('unsupported_grant_type', 'Only grant_type=client_credentials is supported.', 400);
    }
    if (!req.clientId) throw new OAuthError('invalid_request', "The request body must contain the parameter 'client_id'.", 400);
    if (!req.clientSecret) throw new OAuthError('invalid_client', "The request body must contain 'client_secret' (or use HTTP Basic authentication).", 401);
    if (!req.scope) throw new OAuthError('invalid_request', "The request body must contain the parameter 'scope' (e.g. api://bulwark/.default).", 400);
    if (!this.scopeAccepted(req.scope)) {
      throw new OAuthError('invalid_scope', `The scope '${req.scope.slice(0, 200)}' is not valid; use '${this.settings.audience}/.default' or 'https://graph.microsoft.com/.default'.`, 400);
    }
    const app = await this.store.findApp(req.tenantId, req.clientId);
    // One message for every failure so callers cannot probe which client ids exist.
    if (!app || app.disabledAt !== null || !secretMatches(req.clientSecret, app.secretHash)) {
      throw new OAuthError('invalid_client', 'Invalid client secret provided, or the application is not registered in this tenant.', 401);
    }
    return this.issuer.issue({ tenantId: app.tenantId, appId: app.clientId, roles: app.roles });
  }

  /** Client-credentials scopes are `<resource>/.default`; Graph's resource is accepted as an alias. */
  private scopeAccepted(scope: string): boolean {
    const resources = new Set([this.settings.audience, 'https://graph.microsoft.com', this.settings.baseUrl]);
    return scope
      .split(/\s+/)
      .filter(Boolean)
      .every((s) => s.endsWith('/.default') && resources.has(s.slice(0, -'/.default'.length)));
  }
}
