import type { Site } from '../../config/site.js';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { SigningKeys } from '../../auth/signing-keys.js';
import { issuerFor } from '../../auth/token-issuer.js';
import { errors } from '../../domain/errors.js';
import { OAuthError, tenantIdPattern, type IdentityService } from '../../services/identity-service.js';

export interface IdentityRouteDeps {
  identity: IdentityService;
  keys: SigningKeys;
  site: Site;
}

/**
 * The identity-platform endpoints, at the paths Microsoft Entra ID uses, so MSAL-style clients need
 * only a different authority: token (client credentials), JWKS and OpenID configuration.
 */
export function registerIdentityRoutes(app: FastifyInstance, deps: IdentityRouteDeps): void {
  app.post<{ Params: { tenantId: string } }>('/:tenantId/oauth2/v2.0/token', { config: { auth: 'none' } }, async (request, reply) => {
    noStore(reply);
    const form = request.body;
    try {
      if (form === undefined || form === null || typeof form !== 'object' || !/^application\/x-www-form-urlencoded/i.test(request.headers['content-type'] ?? '')) {
        throw new OAuthError('invalid_request', 'The request body must be application/x-www-form-urlencoded.', 400);
      }
      const f = form as Record<string, string | undefined>;
      const basic = basicCredentials(request.headers.authorization);
      const result = await deps.identity.clientCredentials({
        tenantId: request.params.tenantId,
        grantType: f['grant_type'],
        clientId: f['client_id'] ?? basic?.id,
        clientSecret: f['client_secret'] ?? basic?.secret,
        scope: f['scope'],
      });
      request.logContext = { tenant: request.params.tenantId, app: f['client_id'] ?? basic?.id };
      return reply.send({ token_type: 'Bearer', expires_in: result.expiresIn, ext_expires_in: result.expiresIn, access_token: result.accessToken });
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      if (e.status === 401) reply.header('www-authenticate', 'Basic realm="bulwark"');
      return reply.code(e.status).send({
        error: e.error,
        error_description: e.description,
        error_codes: [],
        timestamp: new Date().toISOString(),
        trace_id: request.id,
        correlation_id: request.clientRequestId ?? randomUUID(),
      });
    }
  });

  app.get<{ Params: { tenantId: string } }>('/:tenantId/discovery/v2.0/keys', { config: { auth: 'none' } }, async (request, reply) => {
    checkTenant(request.params.tenantId);
    return reply.header('cache-control', 'public, max-age=300').send(deps.keys.jwks());
  });

  app.get<{ Params: { tenantId: string } }>('/:tenantId/v2.0/.well-known/openid-configuration', { config: { auth: 'none' } }, async (request, reply) => {
    const tid = checkTenant(request.params.tenantId);
    const base = `${deps.site.baseUrl}/${tid}`;
    return reply.header('cache-control', 'public, max-age=300').send({
      issuer: issuerFor(deps.site.baseUrl, tid),
      token_endpoint: `${base}/oauth2/v2.0/token`,
      // Only the client-credentials grant exists; the endpoint is listed because MSAL requires it.
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      grant_types_supported: ['client_credentials'],
      response_types_supported: ['token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      scopes_supported: ['.default'],
      claims_supported: ['iss', 'aud', 'sub', 'tid', 'appid', 'azp', 'roles', 'upn', 'iat', 'nbf', 'exp', 'jti'],
      tenant_region_scope: null,
      cloud_instance_name: new URL(deps.site.baseUrl).host,
    });
  });

  app.get<{ Params: { tenantId: string } }>('/:tenantId/oauth2/v2.0/authorize', { config: { auth: 'none' } }, async () => {
    throw errors.badRequest('Interactive sign-in is not supported; use the client-credentials grant at the token endpoint.');
  });
}

function checkTenant(tenantId: string): string {
  if (!tenantIdPattern.test(tenantId)) throw errors.notFound(`Tenant '${tenantId.slice(0, 64)}' is not valid.`);
  return tenantId;
}

function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const m = header ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header) : null;
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  // RFC 6749 §2.3.1: both parts are form-url-encoded inside Basic credentials.
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      return s;
    }
  };
  return { id: dec(decoded.slice(0, i)), secret: dec(decoded.slice(i + 1)) };
}
