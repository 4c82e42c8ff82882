import { randomUUID } from 'node:crypto';
import { Client, GraphError, PageIterator, ResponseType, type AuthenticationProvider, type PageCollection } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../src/domain/security-action.js';
import { backends } from '../helpers/backends.js';
import { startHttpsBulwark, type HttpsBulwark, type RegisteredApp } from './support/https-bulwark.js';

/**
 * The official Microsoft Graph JavaScript client 3.x (`@microsoft/microsoft-graph-client`) against a
 * running Bulwark over HTTPS, configured the way its docs tell a user to point it at another host:
 * `baseUrl`, `defaultVersion: 'beta'`, `customHosts` (bare hostname) and an `authProvider` whose
 * tokens come from Bulwark's own token endpoint (client credentials of a registered app). Nothing in
 * the client's middleware chain is replaced.
 *
 * The enforcement engine is off in this suite so every status and state history the client reads is
 * deterministic (an action stays `NotStarted` until cancelled); kiota-beta-sdk.test.ts drives actions
 * through the engine.
 */

const operationStatuses = ['NotStarted', 'Running', 'Completed', 'Failed'];
const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const isoUtc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface ActionJson {
  id: string;
  name: string;
  status: string;
  appId: string;
  azureTenantId: string;
  clientContext: string | null;
  createdDateTime: string;
  lastActionDateTime: string;
  parameters: { name: string; value: string }[];
  states: { appId: string; status: string; updatedDateTime: string }[];
  vendorInformation: { provider: string; vendor: string };
  errorInfo: unknown;
  cancelledDateTime?: string | null;
  '@odata.context'?: string;
}

interface CollectionJson {
  value: ActionJson[];
  '@odata.count'?: number;
  '@odata.nextLink'?: string;
  '@odata.context'?: string;
}

function blockIp(ip: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'BlockIp', actionReason: 'conformance: graph-client v3', parameters: [{ name: 'IP', value: ip }], ...extra };
}

let ipCounter = 0;
const nextIp = () => `198.51.100.${(ipCounter++ % 250) + 1}`;

/** What a Graph call that must fail threw, as a GraphError (fails the test if it resolved). */
async function graphError(call: Promise<unknown>): Promise<GraphError> {
  const outcome = await call.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the call to fail, it resolved with ${JSON.stringify(outcome.value)?.slice(0, 200)}`);
  expect(outcome.error).toBeInstanceOf(GraphError);
  return outcome.error as GraphError;
}

/** Checks that a GraphError was populated from Bulwark's envelope and matches the response headers. */
function expectEnvelope(err: GraphError, status: number, code: string): void {
  expect(err.statusCode).toBe(status);
  expect(err.code).toBe(code);
  expect(err.message.length).toBeGreaterThan(0);
  expect(err.requestId).toMatch(guid);
  expect(err.headers?.get('request-id')).toBe(err.requestId);
  expect(err.date).toBeInstanceOf(Date);
  expect(Number.isNaN(err.date.getTime())).toBe(false);
  const body = JSON.parse(err.body as string) as { code: string; innerError: Record<string, string> };
  expect(body.code).toBe(code);
  // The client's TelemetryHandler sent a client-request-id; the envelope and the header echo it.
  expect(body.innerError['client-request-id']).toMatch(guid);
  expect(err.headers?.get('client-request-id')).toBe(body.innerError['client-request-id']);
}

describe.each(backends())('@microsoft/microsoft-graph-client 3.x over HTTPS ($name)', (backend) => {
  let b: HttpsBulwark;
  let app: RegisteredApp;
  let client: Client;
  let tokenRequests = 0;

  /** Bulwark's token endpoint behind the client's AuthenticationProvider interface (cached like MSAL would). */
  function tokenAuthProvider(registered: RegisteredApp): AuthenticationProvider {
    let cached: Promise<string> | undefined;
    return {
      getAccessToken: () => {
        if (!cached) {
          tokenRequests++;
          cached = b.clientCredentialsToken(registered);
        }
        return cached;
      },
    };
  }

  function v3Client(options: { app?: RegisteredApp; defaultVersion?: string; customHosts?: boolean } = {}): Client {
    return Client.initWithMiddleware({
      authProvider: tokenAuthProvider(options.app ?? app),
      baseUrl: `${b.url}/`,
      defaultVersion: options.defaultVersion ?? 'beta',
      ...(options.customHosts === false ? {} : { customHosts: new Set(['127.0.0.1']) }),
    });
  }

  beforeAll(async () => {
    b = await startHttpsBulwark({ backend, engine: false });
    app = await b.registerApp({ roles: [roles.readWrite] });
    client = v3Client();
  });

  afterAll(async () => {
    await b?.close();
  });

  it('creates an action with .post() and answers 201 with the full entity, Location and JSON content type', async () => {
    const ip = nextIp();
    const created = (await client.api('/security/securityActions').post(blockIp(ip, { clientContext: 'v3-create' }))) as ActionJson;
    expect(created.id).toMatch(guid);
    expect(created.name).toBe('BlockIp');
    expect(created.status).toBe('NotStarted');
    expect(created.appId).toBe(app.clientId);
    expect(created.azureTenantId).toBe(app.tenantId);
    expect(created.clientContext).toBe('v3-create');
    expect(created.parameters).toEqual([{ name: 'IP', value: ip }]);
    expect(created.createdDateTime).toMatch(isoUtc);
    expect(created.lastActionDateTime).toMatch(isoUtc);
    expect(created.errorInfo).toBeNull();
    expect(created.states).toHaveLength(1);
    expect(created.states[0]).toMatchObject({ appId: app.clientId, status: 'NotStarted' });
    expect(created['@odata.context']).toBe(`${b.url}/beta/$metadata#security/securityActions/$entity`);
    expect(tokenRequests).toBeGreaterThan(0);

    const raw = (await client.api('/security/securityActions').responseType(ResponseType.RAW).post(blockIp(nextIp()))) as Response;
    expect(raw.status).toBe(201);
    expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await raw.json()) as ActionJson;
    expect(raw.headers.get('location')).toBe(`${b.url}/beta/security/securityActions/${body.id}`);
  });

  it('gets an action by id with .get() and echoes a client-request-id the caller set', async () => {
    const created = (await client.api('/security/securityActions').post(blockIp(nextIp()))) as ActionJson;
    const got = (await client.api(`/security/securityActions/${created.id}`).get()) as ActionJson;
    const { ['@odata.context']: _c1, ...gotEntity } = got;
    const { ['@odata.context']: _c2, ...createdEntity } = created;
    expect(gotEntity).toEqual(createdEntity);

    const clientRequestId = randomUUID();
    const raw = (await client
      .api(`/security/securityActions/${created.id}`)
      .header('client-request-id', clientRequestId)
      .responseType(ResponseType.RAW)
      .get()) as Response;
    expect(raw.status).toBe(200);
    expect(raw.headers.get('client-request-id')).toBe(clientRequestId);
    expect(raw.headers.get('request-id')).toMatch(guid);
    await raw.arrayBuffer();

    const selected = (await client.api(`/security/securityActions/${created.id}`).select(['status', 'name']).get()) as Record<string, unknown>;
    expect(Object.keys(selected).filter((k) => !k.startsWith('@')).sort()).toEqual(['id', 'name', 'status']);
  });

  it('lists with .filter().top().orderby().count(true); following @odata.nextLink with client.api(nextLink) returns each action once', async () => {
    const marker = `v3-page-${randomUUID()}`;
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) {
      const a = (await client.api('/security/securityActions').post(blockIp(nextIp(), { clientContext: marker }))) as ActionJson;
      ids.add(a.id);
    }
    // Noise the filter must exclude.
    await client.api('/security/securityActions').post(blockIp(nextIp(), { clientContext: `${marker}-other` }));

    const first = (await client
      .api('/security/securityActions')
      .filter(`clientContext eq '${marker}'`)
      .top(3)
      .orderby('createdDateTime desc')
      .count(true)
      .get()) as CollectionJson;
    expect(first['@odata.count']).toBe(7);
    expect(first.value).toHaveLength(3);
    expect(first['@odata.context']).toBe(`${b.url}/beta/$metadata#security/securityActions`);
    expect(first['@odata.nextLink']).toMatch(new RegExp(`^${b.url.replace(/[.]/g, '\\.')}/beta/security/securityActions\\?`));

    const seen: ActionJson[] = [...first.value];
    const pageSizes = [first.value.length];
    let next = first['@odata.nextLink'];
    while (next) {
      const page = (await client.api(next).get()) as CollectionJson;
      if (page['@odata.count'] !== undefined) expect(page['@odata.count']).toBe(7);
      pageSizes.push(page.value.length);
      seen.push(...page.value);
      next = page['@odata.nextLink'];
      expect(pageSizes.length).toBeLessThan(10);
    }
    expect(pageSizes).toEqual([3, 3, 1]);
    expect(seen.map((a) => a.id).sort()).toEqual([...ids].sort());
    expect(new Set(seen.map((a) => a.id)).size).toBe(7);
    const times = seen.map((a) => Date.parse(a.createdDateTime));
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(seen.every((a) => a.clientContext === marker)).toBe(true);

    // The client's own PageIterator follows the same links.
    const firstAgain = (await client.api('/security/securityActions').filter(`clientContext eq '${marker}'`).top(2).get()) as PageCollection;
    const iterated: string[] = [];
    await new PageIterator(client, firstAgain, (item: ActionJson) => {
      iterated.push(item.id);
      return true;
    }).iterate();
    expect(iterated.sort()).toEqual([...ids].sort());
  });

  it('filters on status and vendorInformation and rejects a malformed $filter with a GraphError 400', async () => {
    const marker = `v3-filter-${randomUUID()}`;
    await client.api('/security/securityActions').post(blockIp(nextIp(), { clientContext: marker }));
    const notStarted = (await client
      .api('/security/securityActions')
      .filter(`clientContext eq '${marker}' and status eq 'NotStarted' and vendorInformation/provider eq 'feeds'`)
      .get()) as CollectionJson;
    expect(notStarted.value).toHaveLength(1);
    const completed = (await client
      .api('/security/securityActions')
      .filter(`clientContext eq '${marker}' and status eq 'Completed'`)
      .get()) as CollectionJson;
    expect(completed.value).toHaveLength(0);

    const err = await graphError(client.api('/security/securityActions').filter('status eq').get());
    expectEnvelope(err, 400, 'BadRequest');
  });

  it('reads the $count segment as a text/plain integer honouring .filter()', async () => {
    const marker = `v3-count-${randomUUID()}`;
    for (let i = 0; i < 4; i++) await client.api('/security/securityActions').post(blockIp(nextIp(), { clientContext: marker }));
    const count = (await client.api('/security/securityActions/$count').filter(`clientContext eq '${marker}'`).get()) as unknown;
    // The client parses text/plain as text; the body is exactly the integer.
    expect(count).toBe('4');
    const raw = (await client.api('/security/securityActions/$count').filter(`clientContext eq '${marker}'`).responseType(ResponseType.RAW).get()) as Response;
    expect(raw.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await raw.text()).toBe('4');
  });

  it('cancels with .post({}) — resolves without a JSON parse error, records a state, and is idempotent', async () => {
    const created = (await client.api('/security/securityActions').post(blockIp(nextIp()))) as ActionJson;
    const result: unknown = await client.api(`/security/securityActions/${created.id}/cancelSecurityAction`).post({});
    // 200 without Content-Type: the client does not try to parse JSON and hands back the raw body
    // stream (GraphResponseHandler.convertResponse), which is empty.
    expect(result).toBeInstanceOf(ReadableStream);
    const bytes = await new Response(result as ReadableStream).arrayBuffer();
    expect(bytes.byteLength).toBe(0);
    const raw = (await client.api(`/security/securityActions/${created.id}/cancelSecurityAction`).responseType(ResponseType.RAW).post({})) as Response;
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toBeNull();
    expect(await raw.text()).toBe('');

    const after = (await client.api(`/security/securityActions/${created.id}`).get()) as ActionJson;
    expect(operationStatuses).toContain(after.status);
    expect(after.cancelledDateTime).toMatch(isoUtc);
    expect(after.states).toHaveLength(2); // the second cancel was a no-op
    for (const s of after.states) expect(operationStatuses).toContain(s.status);
  });

  it('surfaces 404 for an unknown id as a GraphError with statusCode, code and requestId from the envelope', async () => {
    const id = randomUUID();
    const err = await graphError(client.api(`/security/securityActions/${id}`).get());
    expectEnvelope(err, 404, 'ResourceNotFound');
    expect(err.message).toContain(id);
    const cancelErr = await graphError(client.api(`/security/securityActions/${id}/cancelSecurityAction`).post({}));
    expectEnvelope(cancelErr, 404, 'ResourceNotFound');
  });

  it('surfaces 400 for an unknown action name as a GraphError naming the action', async () => {
    const err = await graphError(client.api('/security/securityActions').post({ name: 'LaunchMissiles', parameters: [{ name: 'IP', value: nextIp() }] }));
    expectEnvelope(err, 400, 'InvalidAction');
    expect(err.message).toContain('LaunchMissiles');
  });

  it('surfaces 405 for PATCH/DELETE on an action and 403 for an app without the write role', async () => {
    const created = (await client.api('/security/securityActions').post(blockIp(nextIp()))) as ActionJson;
    expectEnvelope(await graphError(client.api(`/security/securityActions/${created.id}`).patch({ actionReason: 'x' })), 405, 'MethodNotAllowed');
    expectEnvelope(await graphError(client.api(`/security/securityActions/${created.id}`).delete()), 405, 'MethodNotAllowed');

    const reader = await b.registerApp({ tenantId: app.tenantId, roles: [roles.read] });
    const readOnly = v3Client({ app: reader });
    const got = (await readOnly.api(`/security/securityActions/${created.id}`).get()) as ActionJson;
    expect(got.id).toBe(created.id);
    expectEnvelope(await graphError(readOnly.api('/security/securityActions').post(blockIp(nextIp()))), 403, 'Authorization_RequestDenied');
  });

  it('needs customHosts: without it the client attaches no token and Bulwark answers 401 with WWW-Authenticate: Bearer', async () => {
    const before = tokenRequests;
    const noCustomHosts = v3Client({ customHosts: false });
    const err = await graphError(noCustomHosts.api('/security/securityActions').get());
    expect(err.statusCode).toBe(401);
    expect(err.code).toBe('InvalidAuthenticationToken');
    expect(err.headers?.get('www-authenticate')).toMatch(/^Bearer\b/);
    expect(tokenRequests).toBe(before); // the auth provider was never asked
  });

  it('serves the same API under the v1.0 prefix (defaultVersion and per-request .version())', async () => {
    const v1 = v3Client({ defaultVersion: 'v1.0' });
    const created = (await v1.api('/security/securityActions').post(blockIp(nextIp()))) as ActionJson;
    expect(created['@odata.context']).toBe(`${b.url}/v1.0/$metadata#security/securityActions/$entity`);
    const got = (await v1.api(`/security/securityActions/${created.id}`).get()) as ActionJson;
    expect(got.id).toBe(created.id);
    expect(got.status).toBe('NotStarted');

    const viaVersion = (await client.api(`/security/securityActions/${created.id}`).version('v1.0').get()) as ActionJson;
    expect(viaVersion['@odata.context']).toBe(`${b.url}/v1.0/$metadata#security/securityActions/$entity`);

    const marker = `v1-${randomUUID()}`;
    for (let i = 0; i < 3; i++) await v1.api('/security/securityActions').post(blockIp(nextIp(), { clientContext: marker }));
    const page = (await v1.api('/security/securityActions').filter(`clientContext eq '${marker}'`).top(2).count(true).get()) as CollectionJson;
    expect(page['@odata.count']).toBe(3);
    expect(page['@odata.nextLink']).toContain(`${b.url}/v1.0/security/securityActions?`);
    const rest = (await v1.api(page['@odata.nextLink']!).get()) as CollectionJson;
    expect([...page.value, ...rest.value].map((a) => a.id).sort()).toHaveLength(3);
    expect(rest['@odata.nextLink']).toBeUndefined();

    await v1.api(`/security/securityActions/${created.id}/cancelSecurityAction`).post({});
    const raw = (await v1.api('/security/securityActions').responseType(ResponseType.RAW).post(blockIp(nextIp()))) as Response;
    const body = (await raw.json()) as ActionJson;
    expect(raw.headers.get('location')).toBe(`${b.url}/v1.0/security/securityActions/${body.id}`);
  });
});
