import { randomUUID } from 'node:crypto';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromOptions, withConfigOptions } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/load.js';
import { roles } from '../../src/domain/security-action.js';
import { startService } from '../../src/main.js';
import { sqliteBackend } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { LocalOidcIssuer } from './support/local-oidc-issuer.js';

/**
 * Trust of an external OpenID Connect issuer (issue 2 §5): Bulwark finds the issuer's keys through
 * its discovery document and JWKS and checks signature, issuer, audience and lifetime. The issuer
 * here is LocalOidcIssuer, a real HTTP server on 127.0.0.1 standing in for Microsoft Entra ID and
 * Keycloak (no internet in tests); tokens are shaped like theirs.
 */

const audience = 'api://bulwark-ext';
const securityActions = '/beta/security/securityActions';
const blockIp = (ip: string) => JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: ip }] });
const jsonHeaders = { 'content-type': 'application/json' };

async function expect401(res: Response, messagePart?: string): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('InvalidAuthenticationToken');
  if (messagePart) expect(body.error.message).toContain(messagePart);
}

describe('external OIDC issuer trust — local stand-in issuer for Entra ID / Keycloak (discovery + JWKS)', () => {
  let idp: LocalOidcIssuer;
  let svc: TestService;
  let genericIssuer: string;
  let entraIssuerTemplate: string;
  let entraDiscovery: string;
  let keycloakIssuer: string;

  beforeAll(async () => {
    idp = await LocalOidcIssuer.start();
    genericIssuer = `${idp.base}/idp`;
    idp.addIssuer({ discoveryPath: '/idp/.well-known/openid-configuration', issuer: genericIssuer, jwksPath: '/idp/keys' });
    // Entra ID: one multi-tenant discovery document whose issuer carries the {tenantid} placeholder.
    entraIssuerTemplate = `${idp.base}/{tenantid}/v2.0`;
    entraDiscovery = `${idp.base}/common/v2.0/.well-known/openid-configuration`;
    idp.addIssuer({ discoveryPath: '/common/v2.0/.well-known/openid-configuration', issuer: entraIssuerTemplate, jwksPath: '/common/discovery/v2.0/keys' });
    // Keycloak: one realm, no tenant claim, roles under realm_access.roles.
    keycloakIssuer = `${idp.base}/realms/bulwark`;
    idp.addIssuer({ discoveryPath: '/realms/bulwark/.well-known/openid-configuration', issuer: keycloakIssuer, jwksPath: '/realms/bulwark/protocol/openid-connect/certs' });

    svc = await startTestService({
      engine: false,
      overrides: {
        auth: {
          trustedIssuers: [
            { issuer: genericIssuer, audience, tenantClaim: 'tid' },
            { issuer: entraIssuerTemplate, audience, discoveryUrl: entraDiscovery },
            { issuer: keycloakIssuer, audience, tenantId: 'keycloak-bulwark', rolesClaim: 'realm_access.roles' },
          ],
        },
      },
    });
  });

  afterAll(async () => {
    await svc?.close();
    await idp?.close();
  });

  const genericClaims = (tid: string, extra: Record<string, unknown> = {}) => ({
    iss: genericIssuer, aud: audience, tid, azp: 'soar-ext', appid: 'soar-ext', roles: [roles.readWrite], sub: 'soar-ext', ...extra,
  });

  it('accepts a valid token (200/201) after fetching the discovery document and the JWKS', async () => {
    const tid = randomUUID();
    const token = await idp.sign(genericClaims(tid));
    const list = await svc.fetch(securityActions, { token });
    expect(list.status).toBe(200);
    expect(idp.requested('/idp/.well-known/openid-configuration')).toBeGreaterThanOrEqual(1);
    expect(idp.requested('/idp/keys')).toBeGreaterThanOrEqual(1);

    const created = await svc.fetch(securityActions, { token, method: 'POST', headers: jsonHeaders, body: blockIp('192.0.2.50') });
    expect(created.status).toBe(201);
    const action = (await created.json()) as { azureTenantId: string; appId: string };
    expect(action.azureTenantId).toBe(tid);
    expect(action.appId).toBe('soar-ext');
  });

  it('rejects a wrong audience with 401 and WWW-Authenticate: Bearer', async () => {
    const token = await idp.sign(genericClaims(randomUUID(), { aud: 'api://someone-else' }));
    await expect401(await svc.fetch(securityActions, { token }), 'audience');
  });

  it('rejects an issuer that is not trusted (same keys, other iss) with 401', async () => {
    const token = await idp.sign(genericClaims(randomUUID(), { iss: `${idp.base}/evil` }));
    await expect401(await svc.fetch(securityActions, { token }), 'issuer');
  });

  it('rejects an expired token with 401', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await idp.sign(genericClaims(randomUUID()), { iat: now - 7200, exp: now - 3600 });
    await expect401(await svc.fetch(securityActions, { token }), 'expired');
  });

  it('rejects a token whose kid is not in the JWKS with 401', async () => {
    const token = await idp.sign(genericClaims(randomUUID()), { key: 'stray', kid: 'not-published' });
    await expect401(await svc.fetch(securityActions, { token }), 'unknown key');
  });

  it('rejects a token signed by another key under the published kid with 401', async () => {
    const token = await idp.sign(genericClaims(randomUUID()), { key: 'stray' });
    await expect401(await svc.fetch(securityActions, { token }), 'signature');
  });

  it("rejects an unsigned (alg: none) token naming the trusted issuer with 401", async () => {
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const token = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ ...genericClaims(randomUUID()), iat: now, exp: now + 600 })}.`;
    await expect401(await svc.fetch(securityActions, { token }));
  });

  it('Entra-style {tenantid} issuer with a common discoveryUrl: each tenant is its own tenant, and iss must match tid', async () => {
    const tenantA = randomUUID();
    const tenantB = randomUUID();
    const entraToken = (tid: string, issTenant = tid) =>
      idp.sign({ iss: `${idp.base}/${issTenant}/v2.0`, aud: audience, tid, azp: 'entra-app', roles: [roles.readWrite], idtyp: 'app', ver: '2.0', sub: 'entra-app' });

    const a = await entraToken(tenantA);
    const created = await svc.fetch(securityActions, { token: a, method: 'POST', headers: jsonHeaders, body: blockIp('192.0.2.51') });
    expect(created.status).toBe(201);
    const action = (await created.json()) as { id: string; azureTenantId: string };
    expect(action.azureTenantId).toBe(tenantA);
    expect(idp.requested('/common/v2.0/.well-known/openid-configuration')).toBeGreaterThanOrEqual(1);
    expect(idp.requested('/common/discovery/v2.0/keys')).toBeGreaterThanOrEqual(1);
    expect(idp.requested(`/${tenantA}/v2.0/.well-known/openid-configuration`)).toBe(0);

    const b = await entraToken(tenantB);
    expect((await svc.fetch(`${securityActions}/${action.id}`, { token: b })).status).toBe(404);
    const listB = (await (await svc.fetch(securityActions, { token: b })).json()) as { value: { id: string }[] };
    expect(listB.value.map((x) => x.id)).not.toContain(action.id);
    expect((await svc.fetch(`${securityActions}/${action.id}`, { token: a })).status).toBe(200);

    // A token for tenant B that claims tenant A's issuer (or vice versa) is not trusted.
    await expect401(await svc.fetch(securityActions, { token: await entraToken(tenantB, tenantA) }));
  });

  it('Keycloak-style issuer without tid: fixed tenantId and roles from realm_access.roles', async () => {
    const kc = (realmRoles: string[], extra: Record<string, unknown> = {}) =>
      idp.sign({ iss: keycloakIssuer, aud: audience, azp: 'soar-client', sub: randomUUID(), typ: 'Bearer', preferred_username: 'service-account-soar-client', realm_access: { roles: realmRoles }, ...extra });

    const writer = await kc(['offline_access', roles.readWrite]);
    const created = await svc.fetch(securityActions, { token: writer, method: 'POST', headers: jsonHeaders, body: blockIp('192.0.2.52') });
    expect(created.status).toBe(201);
    const action = (await created.json()) as { azureTenantId: string; appId: string; user: string | null };
    expect(action.azureTenantId).toBe('keycloak-bulwark');
    expect(action.appId).toBe('soar-client');
    expect(idp.requested('/realms/bulwark/.well-known/openid-configuration')).toBeGreaterThanOrEqual(1);
    expect(idp.requested('/realms/bulwark/protocol/openid-connect/certs')).toBeGreaterThanOrEqual(1);

    const reader = await kc([roles.read]);
    expect((await svc.fetch(securityActions, { token: reader })).status).toBe(200);
    const denied = await svc.fetch(securityActions, { token: reader, method: 'POST', headers: jsonHeaders, body: blockIp('192.0.2.53') });
    expect(denied.status).toBe(403);
    // Roles only at top level are not where this issuer's config says they are.
    const misplaced = await kc([], { roles: [roles.readWrite] });
    expect((await svc.fetch(securityActions, { token: misplaced })).status).toBe(403);
    await expect401(await svc.fetch(securityActions, { token: await kc([roles.readWrite], { aud: 'account' }) }), 'audience');
  });
});

describe('external OIDC issuer configured by --oidc-* flags or BULWARK_OIDC_* environment (local stand-in issuer)', () => {
  let idp: LocalOidcIssuer;
  let issuer: string;

  beforeAll(async () => {
    idp = await LocalOidcIssuer.start();
    issuer = `${idp.base}/realms/ops`;
    idp.addIssuer({ discoveryPath: '/realms/ops/.well-known/openid-configuration', issuer, jwksPath: '/realms/ops/certs' });
  });

  afterAll(async () => {
    await idp?.close();
  });

  const expected = () => ({
    issuer,
    audience: [audience],
    tenantClaim: 'tid',
    tenantId: 'ops',
    rolesClaim: 'realm_access.roles',
    algorithms: ['RS256', 'ES256'],
  });

  const token = (aud = audience) => idp.sign({ iss: issuer, aud, azp: 'ops-bot', sub: 'ops-bot', realm_access: { roles: [roles.readWrite] } });

  it('the CLI flags map to one trusted issuer', () => {
    const cmd = withConfigOptions(new Command('serve')).exitOverride();
    cmd.parse(['--oidc-issuer', issuer, '--oidc-audience', audience, '--oidc-tenant-id', 'ops', '--oidc-roles-claim', 'realm_access.roles'], { from: 'user' });
    const config = configFromOptions(cmd.opts());
    expect(config.auth.trustedIssuers).toEqual([expected()]);
  });

  it('flags (through loadConfig) make a running Bulwark trust the issuer', async () => {
    const svc = await startTestService({
      engine: false,
      overrides: { 'oidc.issuer': issuer, 'oidc.audience': audience, 'oidc.tenantId': 'ops', 'oidc.rolesClaim': 'realm_access.roles' },
    });
    try {
      expect(svc.config.auth.trustedIssuers).toEqual([expected()]);
      const res = await svc.fetch(securityActions, { token: await token(), method: 'POST', headers: jsonHeaders, body: blockIp('192.0.2.60') });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { azureTenantId: string }).azureTenantId).toBe('ops');
      await expect401(await svc.fetch(securityActions, { token: await token('api://other') }), 'audience');
    } finally {
      await svc.close();
    }
  });

  it('BULWARK_OIDC_* environment (through loadConfig) makes a running Bulwark trust the issuer', async () => {
    const storage = await sqliteBackend.fresh();
    const config = loadConfig({
      env: {
        BULWARK_OIDC_ISSUER: issuer,
        BULWARK_OIDC_AUDIENCE: audience,
        BULWARK_OIDC_TENANT_ID: 'ops',
        BULWARK_OIDC_ROLES_CLAIM: 'realm_access.roles',
        BULWARK_OIDC_DISCOVERY_URL: `${idp.base}/realms/ops/.well-known/openid-configuration`,
      },
      flags: { port: 0, dataDir: storage.dataDir, logLevel: 'silent' },
    });
    expect(config.auth.trustedIssuers).toEqual([{ ...expected(), discoveryUrl: `${idp.base}/realms/ops/.well-known/openid-configuration` }]);
    const service = await startService({ config, api: true, engine: false });
    try {
      const get = (t: string) => fetch(`${service.url}${securityActions}`, { headers: { authorization: `Bearer ${t}` } });
      expect((await get(await token())).status).toBe(200);
      await expect401(await get(await token('api://other')), 'audience');
      // Without the OIDC settings the same token is not trusted.
      const plain = await startTestService({ engine: false });
      try {
        await expect401(await plain.fetch(securityActions, { token: await token() }), 'issuer');
      } finally {
        await plain.close();
      }
    } finally {
      await service.close();
      await storage.cleanup();
    }
  });
});
