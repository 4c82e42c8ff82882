import { randomInt } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { SigningKeys } from '../../src/auth/signing-keys.js';
import { TokenIssuer } from '../../src/auth/token-issuer.js';
import { IdentityService } from '../../src/services/identity-service.js';
import { createSqlIdentityStore } from '../../src/storage/sql/identity-store.js';
import type { Backend } from '../helpers/backends.js';
import { readWrite, startTestService, type TestService } from '../helpers/service.js';

/** Both Graph versions the operations are served under. */
export const versions = ['/beta', '/v1.0'] as const;
export type Version = (typeof versions)[number];

export const collectionPath = (version: Version = '/beta') => `${version}/security/securityActions`;
export const itemPath = (id: string, version: Version = '/beta') => `${collectionPath(version)}/${id}`;
export const cancelPath = (id: string, version: Version = '/beta') => `${itemPath(id, version)}/cancelSecurityAction`;

export const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ISO 8601 in UTC, as `Date.toISOString()` renders it. */
export const isoUtcPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$/;

/** A random documentation/benchmark-range address (never protected by the default guardrails). */
export function randomIp(): string {
  return `198.18.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

export function blockIp(ip: string = randomIp(), extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'BlockIp', actionReason: 'api test', parameters: [{ name: 'IP', value: ip }], ...extra };
}

/** POST a JSON body (any value, or raw text) with `Content-Type: application/json`. */
export function postJson(svc: TestService, path: string, token: string | undefined, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return svc.fetch(path, {
    method: 'POST',
    ...(token ? { token } : {}),
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Creates an action and returns its JSON; fails the test unless the answer is 201. */
export async function createAction(svc: TestService, token: string, body: Record<string, unknown> = blockIp(), version: Version = '/beta'): Promise<Record<string, any>> {
  const res = await postJson(svc, collectionPath(version), token, body);
  const json = (await res.json()) as Record<string, any>;
  expect(res.status, JSON.stringify(json)).toBe(201);
  return json;
}

/** Creates `n` actions in parallel batches; `body(i)` builds each. Returns them in index order. */
export async function createMany(svc: TestService, token: string, n: number, body: (i: number) => Record<string, unknown>, batch = 50): Promise<Record<string, any>[]> {
  const out: Record<string, any>[] = [];
  for (let start = 0; start < n; start += batch) {
    const slice = Array.from({ length: Math.min(batch, n - start) }, (_, k) => createAction(svc, token, body(start + k)));
    out.push(...(await Promise.all(slice)));
  }
  return out;
}

export async function getJson(svc: TestService, path: string, token: string): Promise<{ res: Response; body: any }> {
  const res = await svc.fetch(path, { token });
  const text = await res.text();
  return { res, body: text === '' ? undefined : JSON.parse(text) };
}

/** `GET …/$count` for the token's tenant. */
export async function countOf(svc: TestService, token: string, filter?: string): Promise<number> {
  const res = await svc.fetch(`${collectionPath()}/$count${filter ? `?$filter=${encodeURIComponent(filter)}` : ''}`, { token });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(text).toMatch(/^\d+$/);
  return Number(text);
}

/**
 * Asserts Graph's error envelope: the status, `Content-Type: application/json`, a non-empty `code`,
 * a message, and `innerError` with date, request-id (= the header) and client-request-id.
 * Returns the `error` object for further checks.
 */
export async function expectGraphError(res: Response, status: number | ((s: number) => boolean), messageIncludes?: string | RegExp): Promise<{ code: string; message: string; innerError: Record<string, string> }> {
  const text = await res.text();
  if (typeof status === 'number') expect(res.status, text).toBe(status);
  else expect(status(res.status), `status ${res.status}: ${text}`).toBe(true);
  expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
  const body = JSON.parse(text) as { error: { code: string; message: string; innerError: Record<string, string> } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(body.error.code.length).toBeGreaterThan(0);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error.innerError['date']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
  expect(body.error.innerError['request-id']).toBe(res.headers.get('request-id'));
  expect(body.error.innerError['client-request-id']).toBe(res.headers.get('client-request-id'));
  if (messageIncludes !== undefined) {
    if (typeof messageIncludes === 'string') expect(body.error.message).toContain(messageIncludes);
    else expect(body.error.message).toMatch(messageIncludes);
  }
  return body.error;
}

export const is4xx = (s: number) => s >= 400 && s < 500;

/** The service's current signing key, to mint tokens that differ from valid ones in one claim only. */
export async function serviceSigningKey(svc: TestService): Promise<ReturnType<SigningKeys['signingKey']>> {
  const keys = new SigningKeys(createSqlIdentityStore(svc.service.database.db, svc.service.database.caps));
  await keys.ensure();
  return keys.signingKey();
}

/** Valid claims for a locally issued token, to be altered by a test. */
export function validClaims(svc: TestService, tenant: string, roles: string[]): JWTPayload & Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: `${svc.url}/${tenant}/v2.0`,
    aud: svc.config.auth.audience,
    tid: tenant,
    appid: 'hostile-test-app',
    azp: 'hostile-test-app',
    roles,
    sub: 'hostile-test-app',
    iat: now,
    nbf: now,
    exp: now + 600,
  };
}

/** Signs claims with the service's own key (so only the claims decide the outcome). */
export async function signWithServiceKey(svc: TestService, claims: JWTPayload): Promise<string> {
  const { kid, alg, key } = await serviceSigningKey(svc);
  return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
}

/**
 * `startTestService`, with `svc.token()` minting through the real `TokenIssuer` and signing keys
 * on the service's own database handle instead of opening a second connection per token.
 * Why: the helper's `token()` opens the database and runs the migrator for every token; on
 * PostgreSQL Kysely's migrator introspects every schema of the database, which fails with
 * `schema "bw_test_…" does not exist` when another test file drops its schema at that moment
 * (a race in src/storage/sql/migrate.ts, reported). Same keys, same issuer code, same claims.
 */
export async function startApiService(options: { backend?: Backend; overrides?: Record<string, unknown>; engine?: boolean } = {}): Promise<TestService> {
  const svc = await startTestService(options);
  const keys = new SigningKeys(createSqlIdentityStore(svc.service.database.db, svc.service.database.caps));
  await keys.ensure();
  const issuer = new TokenIssuer(keys, { baseUrl: svc.url, audience: svc.config.auth.audience, lifetimeSeconds: svc.config.auth.tokenLifetimeSeconds });
  const defaultTenant = svc.newTenant();
  svc.token = async (o = {}) =>
    (await issuer.issue({ tenantId: o.tenant ?? defaultTenant, appId: o.app ?? 'test-app', roles: o.roles ?? readWrite, user: o.user, lifetimeSeconds: o.lifetimeSeconds })).accessToken;
  return svc;
}

/** The service's IdentityService (application registration, client credentials), on its own database handle. */
export async function identityServiceOf(svc: TestService): Promise<IdentityService> {
  const store = createSqlIdentityStore(svc.service.database.db, svc.service.database.caps);
  const keys = new SigningKeys(store);
  await keys.ensure();
  const issuer = new TokenIssuer(keys, { baseUrl: svc.url, audience: svc.config.auth.audience, lifetimeSeconds: svc.config.auth.tokenLifetimeSeconds });
  return new IdentityService(store, issuer, { audience: svc.config.auth.audience, baseUrl: svc.url });
}
