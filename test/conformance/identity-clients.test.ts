import { randomUUID } from 'node:crypto';
import { ClientSecretCredential } from '@azure/identity';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { Client } from '@microsoft/microsoft-graph-client';
import { OperationStatusObject } from '@microsoft/msgraph-beta-sdk/models/index.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../src/domain/security-action.js';
import { startHttpsBulwark, type HttpsBulwark, type RegisteredApp } from './support/https-bulwark.js';
import { createBetaClient, tokenProvider } from './support/kiota-security-actions.js';
import { httpsAgentTrusting } from './support/tls.js';

/**
 * Microsoft's identity libraries pointed at Bulwark as the authority, the way a SOAR script that
 * today talks to Entra ID would be re-pointed: MSAL Node's ConfidentialClientApplication
 * (client-credentials grant) and @azure/identity's ClientSecretCredential. The tokens they obtain
 * are then used by the Graph clients against the API.
 */

const scope = 'api://bulwark/.default';

function expectBulwarkClaims(token: string, b: HttpsBulwark, app: RegisteredApp): void {
  const claims = decodeJwt(token);
  expect(claims.iss).toBe(`${b.url}/${app.tenantId}/v2.0`);
  expect(claims.aud).toBe('api://bulwark');
  expect(claims['tid']).toBe(app.tenantId);
  expect(claims['appid']).toBe(app.clientId);
  expect(claims['azp']).toBe(app.clientId);
  expect(claims['roles']).toEqual([roles.readWrite]);
  expect(typeof claims.exp).toBe('number');
}

async function rejection(call: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const outcome = await call.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error('expected the call to fail, it resolved');
  expect(outcome.error).toBeInstanceOf(Error);
  return outcome.error as Error & Record<string, unknown>;
}

describe('Microsoft identity libraries with Bulwark as the authority (HTTPS)', () => {
  let b: HttpsBulwark;
  let app: RegisteredApp;

  beforeAll(async () => {
    b = await startHttpsBulwark({ engine: false });
    app = await b.registerApp({ roles: [roles.readWrite] });
  });

  afterAll(async () => {
    await b?.close();
  });

  /** MSAL needs the authority's host:port in knownAuthorities; otherwise it asks login.microsoftonline.com (instance discovery). */
  function msalApp(clientSecret = app.clientSecret): ConfidentialClientApplication {
    return new ConfidentialClientApplication({
      auth: {
        clientId: app.clientId,
        clientSecret,
        authority: `${b.url}/${app.tenantId}`,
        knownAuthorities: [`127.0.0.1:${b.port}`],
      },
    });
  }

  it('MSAL Node acquireTokenByClientCredential gets a token from Bulwark (OIDC discovery, token endpoint, cache)', async () => {
    const cca = msalApp();
    const result = await cca.acquireTokenByClientCredential({ scopes: [scope] });
    expect(result).not.toBeNull();
    expect(result!.tokenType).toBe('Bearer');
    expect(result!.fromCache).toBe(false);
    expect(result!.expiresOn).toBeInstanceOf(Date);
    expect(result!.expiresOn!.getTime()).toBeGreaterThan(Date.now() + 60_000);
    expectBulwarkClaims(result!.accessToken, b, app);

    // MSAL accepted the response into its token cache (expires_in, token_type, authority all valid).
    const again = await cca.acquireTokenByClientCredential({ scopes: [scope] });
    expect(again!.fromCache).toBe(true);
    expect(again!.accessToken).toBe(result!.accessToken);
  });

  it("MSAL's token works with the Graph JavaScript client (create, get) and Graph's own scope is accepted as an alias", async () => {
    const cca = msalApp();
    const client = Client.initWithMiddleware({
      authProvider: { getAccessToken: async () => (await cca.acquireTokenByClientCredential({ scopes: [scope] }))!.accessToken },
      baseUrl: `${b.url}/`,
      defaultVersion: 'beta',
      customHosts: new Set(['127.0.0.1']),
    });
    const created = (await client.api('/security/securityActions').post({ name: 'BlockIp', parameters: [{ name: 'IP', value: '192.0.2.10' }] })) as {
      id: string;
      appId: string;
      azureTenantId: string;
    };
    expect(created.appId).toBe(app.clientId);
    expect(created.azureTenantId).toBe(app.tenantId);
    expect(((await client.api(`/security/securityActions/${created.id}`).get()) as { id: string }).id).toBe(created.id);

    const graphScoped = await msalApp().acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    expectBulwarkClaims(graphScoped!.accessToken, b, app);
  });

  it('MSAL surfaces a wrong client secret as invalid_client from the token endpoint', async () => {
    const err = await rejection(msalApp(`bws_${randomUUID()}`).acquireTokenByClientCredential({ scopes: [scope] }));
    expect(err['errorCode']).toBe('invalid_client');
  });

  function identityCredential(clientSecret = app.clientSecret): ClientSecretCredential {
    // @azure/identity sends its requests through @azure/core-rest-pipeline on node:https, which does
    // not use fetch's dispatcher: give the request the documented `agent` (a node:https Agent that
    // trusts the per-run certificate). With NODE_EXTRA_CA_CERTS (user-process.test.ts) this is not needed.
    const agent = httpsAgentTrusting(b.cert.certPem);
    return new ClientSecretCredential(app.tenantId, app.clientId, clientSecret, {
      authorityHost: b.url,
      disableInstanceDiscovery: true,
      additionalPolicies: [
        { position: 'perCall', policy: { name: 'trustPerRunCertificate', sendRequest: (request, next) => ((request.agent = agent), next(request)) } },
      ],
    });
  }

  it('@azure/identity ClientSecretCredential (authorityHost + disableInstanceDiscovery) gets a token from Bulwark', async () => {
    const token = await identityCredential().getToken(scope);
    expect(token.token.length).toBeGreaterThan(100);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 60_000);
    expectBulwarkClaims(token.token, b, app);
  });

  it("ClientSecretCredential's token works with the Kiota beta SDK (create, get, cancel)", async () => {
    const credential = identityCredential();
    const tokens = tokenProvider(async () => (await credential.getToken(scope)).token, ['127.0.0.1']);
    const graph = createBetaClient(`${b.url}/beta`, tokens);
    const created = await graph.security.securityActions.post({ name: 'BlockIp', parameters: [{ name: 'IP', value: '192.0.2.11' }] });
    expect(created?.status).toBe(OperationStatusObject.NotStarted);
    expect(created?.appId).toBe(app.clientId);
    const got = await graph.security.securityActions.bySecurityActionId(created!.id!).get();
    expect(got?.id).toBe(created?.id);
    await graph.security.securityActions.bySecurityActionId(created!.id!).cancelSecurityAction.post();
    expect(tokens.calls).toBeGreaterThanOrEqual(3);
  });

  it('@azure/identity surfaces a wrong client secret with the OAuth error code and description', async () => {
    const err = await rejection(identityCredential(`bws_${randomUUID()}`).getToken(scope));
    // @azure/identity wraps every MSAL ServerError (Entra's AADSTS7000215 included) this way.
    expect(err.name).toBe('AuthenticationRequiredError');
    expect(err.message).toMatch(/^invalid_client: /);
    expect(err.message).toContain('Invalid client secret provided');
  });
});
