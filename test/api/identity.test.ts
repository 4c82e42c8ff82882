import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, readWrite, type TestService } from '../helpers/service.js';
import { blockIp, collectionPath, createAction, expectGraphError, identityServiceOf, postJson, startApiService } from './support.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

interface Registered {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  roles: string[];
}

for (const backend of backends()) {
  describe(`identity platform endpoints (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    /** Storage flags for CLI commands against the running service's database. */
    const storageFlags = () => [
      '--data-dir', svc.config.dataDir,
      ...(svc.config.databaseUrl ? ['--database-url', svc.config.databaseUrl, '--database-schema', svc.config.databaseSchema!] : []),
    ];

    /** Registers an app through the real CLI (a separate process) while the service runs. */
    async function registerViaCli(tenant: string, roles: string[]): Promise<Registered> {
      const args = ['bin/bulwark.js', 'apps', 'create', '--tenant', tenant, '--name', 'soar', ...roles.flatMap((r) => ['--role', r]), '--json', ...storageFlags()];
      // Bounded, so a stuck CLI fails with its own output instead of the test's timeout.
      const started = Date.now();
      const { stdout } = await run(process.execPath, args, { cwd: root, env: { PATH: process.env['PATH'], HOME: process.env['HOME'] }, timeout: 20_000, killSignal: 'SIGKILL' }).catch((e: Error & { stdout?: string; stderr?: string }) => {
        throw new Error(`bulwark apps create failed after ${Date.now() - started} ms: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
      });
      return JSON.parse(stdout) as Registered;
    }

    /** Registers an app through IdentityService (what the CLI calls), in-process. */
    async function registerInProcess(tenant: string, roles: string[]): Promise<Registered> {
      const { app, clientSecret } = await (await identityServiceOf(svc)).createApp(tenant, 'in-process', roles);
      return { tenantId: app.tenantId, clientId: app.clientId, clientSecret, roles: app.roles };
    }

    function tokenRequest(tenant: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
      return svc.fetch(`/${tenant}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams(form).toString(),
      });
    }

    const clientCredentials = (app: Registered, scope = 'api://bulwark/.default') => ({
      grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, scope,
    });

    async function expectOAuthError(res: Response, status: number, error: string): Promise<void> {
      const text = await res.text();
      expect(res.status, text).toBe(status);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = JSON.parse(text) as Record<string, unknown>;
      expect(body['error']).toBe(error);
      expect(typeof body['error_description']).toBe('string');
      expect(body).not.toHaveProperty('access_token');
    }

    it('apps create --json (real CLI, while the service runs) prints tenantId, clientId and clientSecret once', async () => {
      const tenant = svc.newTenant();
      const app = await registerViaCli(tenant, [readWrite[0]!]);
      expect(app.tenantId).toBe(tenant);
      expect(app.clientId).toMatch(/^[0-9a-f-]{36}$/);
      expect(app.clientSecret.length).toBeGreaterThanOrEqual(32);
      expect(app.roles).toEqual(readWrite);
    });

    it('client_credentials with client_secret_post issues a token that works on the API', async () => {
      const tenant = svc.newTenant();
      const app = await registerViaCli(tenant, readWrite);
      for (const scope of ['api://bulwark/.default', 'https://graph.microsoft.com/.default']) {
        const res = await tokenRequest(tenant, clientCredentials(app, scope));
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(res.headers.get('cache-control')).toContain('no-store');
        const body = (await res.json()) as { token_type: string; expires_in: number; access_token: string };
        expect(body.token_type).toBe('Bearer');
        expect(Number.isInteger(body.expires_in) && body.expires_in > 0).toBe(true);
        const created = await createAction(svc, body.access_token);
        expect(created['appId']).toBe(app.clientId);
        expect(created['azureTenantId']).toBe(tenant);
      }
    });

    it('client_secret_basic works too', async () => {
      const tenant = svc.newTenant();
      const app = await registerInProcess(tenant, readWrite);
      const basic = Buffer.from(`${encodeURIComponent(app.clientId)}:${encodeURIComponent(app.clientSecret)}`).toString('base64');
      const res = await tokenRequest(tenant, { grant_type: 'client_credentials', scope: 'api://bulwark/.default' }, { authorization: `Basic ${basic}` });
      expect(res.status).toBe(200);
      const { access_token } = (await res.json()) as { access_token: string };
      expect((await svc.fetch(collectionPath(), { token: access_token })).status).toBe(200);
    });

    it('the token carries iss, aud, tid, appid, azp, roles, iat/nbf/exp and verifies against the JWKS and discovery document', async () => {
      const tenant = svc.newTenant();
      const app = await registerInProcess(tenant, readOnly);
      const res = await tokenRequest(tenant, clientCredentials(app));
      const { access_token, expires_in } = (await res.json()) as { access_token: string; expires_in: number };
      const claims = decodeJwt(access_token);
      const now = Math.floor(Date.now() / 1000);
      expect(claims.iss).toBe(`${svc.url}/${tenant}/v2.0`);
      expect(claims.aud).toBe('api://bulwark');
      expect(claims['tid']).toBe(tenant);
      expect(claims['appid']).toBe(app.clientId);
      expect(claims['azp']).toBe(app.clientId);
      expect(claims['roles']).toEqual(readOnly);
      expect(Math.abs(claims.iat! - now)).toBeLessThan(30);
      expect(claims.nbf).toBeLessThanOrEqual(claims.iat!);
      expect(claims.exp! - claims.iat!).toBe(expires_in);
      expect(['RS256', 'ES256']).toContain(decodeProtectedHeader(access_token).alg);

      const discovery = (await (await svc.fetch(`/${tenant}/v2.0/.well-known/openid-configuration`)).json()) as Record<string, string>;
      expect(discovery['issuer']).toBe(claims.iss);
      expect(discovery['token_endpoint']).toBe(`${svc.url}/${tenant}/oauth2/v2.0/token`);
      expect(discovery['jwks_uri']).toBe(`${svc.url}/${tenant}/discovery/v2.0/keys`);
      const jwksRes = await fetch(discovery['jwks_uri']!);
      expect(jwksRes.status).toBe(200);
      const jwks = (await jwksRes.json()) as { keys: Record<string, unknown>[] };
      for (const k of jwks.keys) {
        expect(k).not.toHaveProperty('d');
        expect(k).not.toHaveProperty('p');
      }
      const verified = await jwtVerify(access_token, createLocalJWKSet(jwks as never), { issuer: discovery['issuer']!, audience: 'api://bulwark' });
      expect(verified.payload['tid']).toBe(tenant);
      // The token works on the API for reads and is refused for writes (Read.All).
      expect((await svc.fetch(`${collectionPath()}/$count`, { token: access_token })).status).toBe(200);
      await expectGraphError(await postJson(svc, collectionPath(), access_token, blockIp()), 403);
    });

    it('operator tokens name the user in upn', async () => {
      const token = await svc.token({ tenant: svc.newTenant(), user: 'analyst@contoso.example' });
      expect(decodeJwt(token)['upn']).toBe('analyst@contoso.example');
      expect(decodeJwt(await svc.token({ tenant: svc.newTenant() }))).not.toHaveProperty('upn');
    });

    it('answers invalid_client (401) for a wrong secret, an unknown client and another tenant', async () => {
      const tenant = svc.newTenant();
      const app = await registerInProcess(tenant, readWrite);
      await expectOAuthError(await tokenRequest(tenant, { ...clientCredentials(app), client_secret: `${app.clientSecret}x` }), 401, 'invalid_client');
      await expectOAuthError(await tokenRequest(tenant, { ...clientCredentials(app), client_id: crypto.randomUUID() }), 401, 'invalid_client');
      await expectOAuthError(await tokenRequest(svc.newTenant(), clientCredentials(app)), 401, 'invalid_client');
      const basic = Buffer.from(`${app.clientId}:wrong`).toString('base64');
      await expectOAuthError(await tokenRequest(tenant, { grant_type: 'client_credentials', scope: 'api://bulwark/.default' }, { authorization: `Basic ${basic}` }), 401, 'invalid_client');
    });

    it('answers unsupported_grant_type, invalid_scope and invalid_request', async () => {
      const tenant = svc.newTenant();
      const app = await registerInProcess(tenant, readWrite);
      await expectOAuthError(await tokenRequest(tenant, { ...clientCredentials(app), grant_type: 'password' }), 400, 'unsupported_grant_type');
      await expectOAuthError(await tokenRequest(tenant, { ...clientCredentials(app), grant_type: 'authorization_code' }), 400, 'unsupported_grant_type');
      for (const scope of ['openid', 'api://bulwark/SecurityActions.ReadWrite.All', 'https://evil.example/.default']) {
        await expectOAuthError(await tokenRequest(tenant, clientCredentials(app, scope)), 400, 'invalid_scope');
      }
      const { scope: _scope, ...noScope } = clientCredentials(app);
      await expectOAuthError(await tokenRequest(tenant, noScope), 400, 'invalid_request');
      const json = await svc.fetch(`/${tenant}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(clientCredentials(app)) });
      await expectOAuthError(json, 400, 'invalid_request');
    });

    it('stores the client secret only as a hash', async () => {
      const tenant = svc.newTenant();
      const app = await registerViaCli(tenant, readWrite);
      const rows = await sql<Record<string, unknown>>`select * from apps where client_id = ${app.clientId}`.execute(svc.service.database.db);
      expect(rows.rows).toHaveLength(1);
      const row = JSON.stringify(rows.rows[0]);
      expect(row).not.toContain(app.clientSecret);
      expect(String(rows.rows[0]!['secret_hash'])).toMatch(/^[a-z0-9]+\$/);
      if (backend.name === 'sqlite') {
        // Nor anywhere in the database files (main file and WAL).
        for (const file of fs.readdirSync(svc.config.dataDir)) {
          const bytes = fs.readFileSync(path.join(svc.config.dataDir, file));
          expect(bytes.includes(Buffer.from(app.clientSecret)), file).toBe(false);
        }
      }
      // …yet the secret still works.
      expect((await tokenRequest(tenant, clientCredentials(app))).status).toBe(200);
    });

    it('the JWKS and discovery endpoints refuse an invalid tenant id with a Graph 404', async () => {
      await expectGraphError(await svc.fetch(`/${'x'.repeat(100)}/discovery/v2.0/keys`), 404);
      await expectGraphError(await svc.fetch(`/-bad/v2.0/.well-known/openid-configuration`), 404);
    });
  });
}
