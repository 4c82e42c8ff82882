import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperationStatusObject, type SecurityAction } from '@microsoft/msgraph-beta-sdk/models/index.js';
import type { ODataError } from '@microsoft/msgraph-beta-sdk/models/oDataErrors/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../src/domain/security-action.js';
import { createBetaClient, tokenProvider, type BetaClientWithSecurity } from './support/kiota-security-actions.js';
import { startHttpsBulwark, type HttpsBulwark, type RegisteredApp } from './support/https-bulwark.js';

/**
 * The Kiota beta SDK (`@microsoft/msgraph-beta-sdk`): the Graph request adapter with its default
 * middleware and fetch, its models' deserializers (`createSecurityActionFromDiscriminatorValue`, …)
 * and its `ODataError` mapping, against Bulwark over HTTPS. The securityActions builders are
 * registered with `extendGraphBetaServiceClient` (support/kiota-security-actions.ts) because the
 * `-security` package that holds them is not on npm. Kiota maps enums by exact string, drops
 * non-numeric numbers and parses dates with `new Date()`, so these tests see every wire-format slip.
 */

const statusValues: readonly string[] = Object.values(OperationStatusObject);
const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let ipCounter = 0;
const nextIp = () => `203.0.113.${(ipCounter++ % 250) + 1}`;

function blockIp(ip: string, extra: Partial<SecurityAction> = {}): SecurityAction {
  return { name: 'BlockIp', actionReason: 'conformance: kiota', parameters: [{ name: 'IP', value: ip }], ...extra };
}

function expectValidDate(d: Date | null | undefined): void {
  expect(d).toBeInstanceOf(Date);
  expect(Number.isNaN((d as Date).getTime())).toBe(false);
}

/** What a Kiota call that must fail threw, typed as the SDK's ODataError. */
async function odataError(call: Promise<unknown>): Promise<ODataError> {
  const outcome = await call.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected the call to fail, it resolved with ${JSON.stringify(outcome.value)?.slice(0, 200)}`);
  // Kiota throws the deserialized model itself (a plain object built by the ODataError factory plus
  // ApiError's responseStatusCode/responseHeaders), not an Error subclass.
  expect(typeof outcome.error).toBe('object');
  return outcome.error as ODataError;
}

function expectODataError(err: ODataError, status: number, code: string): void {
  expect(err.responseStatusCode).toBe(status);
  expect(err.errorEscaped?.code).toBe(code);
  expect(err.errorEscaped?.message?.length).toBeGreaterThan(0);
  expect(err.message).toBe(err.errorEscaped?.message);
  const inner = err.errorEscaped?.innerError;
  expect(inner?.requestId).toMatch(guid);
  expect(err.responseHeaders?.['request-id']).toEqual([inner?.requestId]);
  expect(inner?.clientRequestId).toMatch(guid);
  expectValidDate(inner?.date);
}

async function kiotaSetup(b: HttpsBulwark, roleList: string[] = [roles.readWrite]) {
  const app = await b.registerApp({ roles: roleList });
  // kiota-abstractions 1.0.0-preview.109 matches allowed hosts on the URL's hostname, without the port.
  const tokens = tokenProvider(() => b.clientCredentialsToken(app), ['127.0.0.1']);
  const graph = createBetaClient(`${b.url}/beta`, tokens);
  return { app, tokens, graph };
}

describe('Kiota beta SDK models over HTTPS (engine off: statuses stay put)', () => {
  let b: HttpsBulwark;
  let app: RegisteredApp;
  let graph: BetaClientWithSecurity;
  let tokens: ReturnType<typeof tokenProvider>;

  beforeAll(async () => {
    b = await startHttpsBulwark({ engine: false });
    ({ app, graph, tokens } = await kiotaSetup(b));
  });

  afterAll(async () => {
    await b?.close();
  });

  it('creates with post(): status is the enum value NotStarted, dates are Dates, server-set fields come from the token', async () => {
    const before = Date.now();
    const ip = nextIp();
    const created = await graph.security.securityActions.post(blockIp(ip, { clientContext: 'kiota-create', vendorInformation: { provider: 'feeds', vendor: 'ignored' } }));
    expect(created?.id).toMatch(guid);
    expect(created?.status).toBe(OperationStatusObject.NotStarted);
    expect(created?.name).toBe('BlockIp');
    expect(created?.appId).toBe(app.clientId);
    expect(created?.azureTenantId).toBe(app.tenantId);
    expect(created?.clientContext).toBe('kiota-create');
    expect(created?.parameters?.map((p) => [p.name, p.value])).toEqual([['IP', ip]]);
    expect(created?.vendorInformation?.provider).toBe('feeds');
    expectValidDate(created?.createdDateTime);
    expectValidDate(created?.lastActionDateTime);
    expect(created!.createdDateTime!.getTime()).toBeGreaterThanOrEqual(before - 2000);
    expect(created!.createdDateTime!.getTime()).toBeLessThanOrEqual(Date.now() + 2000);
    expect(created?.completedDateTime ?? null).toBeNull();
    // The wire has `"errorInfo": null` (as Graph sends); Kiota's JSON parse node turns a null object
    // into an empty model `{}`, so "no error" reads as a resultInfo without a code.
    expect(created?.errorInfo?.code).toBeUndefined();
    expect(created?.errorInfo?.message).toBeUndefined();
    expect(created?.states).toHaveLength(1);
    expect(created?.states?.[0]?.status).toBe(OperationStatusObject.NotStarted);
    expect(created?.states?.[0]?.appId).toBe(app.clientId);
    expectValidDate(created?.states?.[0]?.updatedDateTime);
    expect(tokens.calls).toBeGreaterThan(0);
  });

  it('gets by id with bySecurityActionId().get() and $select', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp()));
    const got = await graph.security.securityActions.bySecurityActionId(created!.id!).get();
    expect(got?.id).toBe(created?.id);
    expect(got?.status).toBe(OperationStatusObject.NotStarted);
    expect(got?.createdDateTime?.getTime()).toBe(created?.createdDateTime?.getTime());
    expect(got?.states?.[0]?.updatedDateTime?.getTime()).toBe(created?.states?.[0]?.updatedDateTime?.getTime());

    const selected = await graph.security.securityActions.bySecurityActionId(created!.id!).get({ queryParameters: { select: ['status', 'name'] } });
    expect(selected?.id).toBe(created?.id);
    expect(selected?.status).toBe(OperationStatusObject.NotStarted);
    expect(selected?.name).toBe('BlockIp');
    expect(selected?.parameters).toBeUndefined();
  });

  it('accepts an entity read with the SDK and posted back unchanged (read-only fields are ignored, not rejected)', async () => {
    const original = await graph.security.securityActions.post(blockIp(nextIp(), { clientContext: 'round-trip' }));
    await graph.security.securityActions.bySecurityActionId(original!.id!).cancelSecurityAction.post();
    const read = await graph.security.securityActions.bySecurityActionId(original!.id!).get();
    expect(read?.states?.length).toBe(2);
    const reposted = await graph.security.securityActions.post(read!);
    expect(reposted?.id).toMatch(guid);
    expect(reposted?.id).not.toBe(read?.id);
    expect(reposted?.status).toBe(OperationStatusObject.NotStarted);
    expect(reposted?.states).toHaveLength(1);
    expect(reposted?.clientContext).toBe('round-trip');
    expect(reposted?.parameters).toEqual(read?.parameters);
    expect(reposted?.createdDateTime!.getTime()).toBeGreaterThanOrEqual(read!.createdDateTime!.getTime());
  });

  it('lists with filter/top/orderby/count: @odata.count is a number and withUrl(@odata.nextLink) pages return each action once', async () => {
    const marker = `kiota-page-${randomUUID()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await graph.security.securityActions.post(blockIp(nextIp(), { clientContext: marker })))!.id!);

    const first = await graph.security.securityActions.get({
      queryParameters: { filter: `clientContext eq '${marker}'`, top: 2, orderby: ['createdDateTime asc'], count: true },
    });
    expect(typeof first?.odataCount).toBe('number');
    expect(first?.odataCount).toBe(5);
    expect(first?.value).toHaveLength(2);
    expect(typeof first?.odataNextLink).toBe('string');
    for (const a of first?.value ?? []) {
      expect(a.status).toBe(OperationStatusObject.NotStarted);
      expectValidDate(a.createdDateTime);
    }

    const seen = [...(first?.value ?? [])];
    let next = first?.odataNextLink ?? undefined;
    let pages = 1;
    while (next) {
      const page = await graph.security.securityActions.withUrl(next).get();
      seen.push(...(page?.value ?? []));
      next = page?.odataNextLink ?? undefined;
      expect(++pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen.map((a) => a.id)).toEqual(ids); // created in this order, listed ascending
    const times = seen.map((a) => a.createdDateTime!.getTime());
    expect(times).toEqual([...times].sort((x, y) => x - y));
  });

  it('lists with $skip, several $orderby keys and $select as the SDK encodes them', async () => {
    const marker = `kiota-order-${randomUUID()}`;
    const created: SecurityAction[] = [];
    for (const reason of ['b', 'a', 'b', 'a']) {
      created.push((await graph.security.securityActions.post(blockIp(nextIp(), { clientContext: marker, actionReason: reason })))!);
    }
    const page = await graph.security.securityActions.get({
      queryParameters: { filter: `clientContext eq '${marker}'`, orderby: ['actionReason asc', 'createdDateTime desc'], skip: 1, top: 10, select: ['actionReason', 'createdDateTime'] },
    });
    // Sorted a, a, b, b (newest first within a reason); $skip=1 drops the first 'a'.
    expect(page?.value?.map((a) => a.actionReason)).toEqual(['a', 'b', 'b']);
    const bs = page!.value!.slice(1).map((a) => a.createdDateTime!.getTime());
    expect(bs[0]).toBeGreaterThanOrEqual(bs[1]!);
    expect(new Set(page!.value!.map((a) => a.id)).size).toBe(3);
    expect(page!.value!.every((a) => created.some((c) => c.id === a.id))).toBe(true);
    for (const a of page?.value ?? []) {
      expectValidDate(a.createdDateTime);
      expect(a.parameters).toBeUndefined();
    }
  });

  it('keeps open-type properties sent through additionalData and returns them there', async () => {
    const created = await graph.security.securityActions.post({
      ...blockIp(nextIp()),
      additionalData: { ticketId: 'INC-4711', runbook: { name: 'contain-host', step: 3 } },
    });
    const got = await graph.security.securityActions.bySecurityActionId(created!.id!).get();
    expect(got?.additionalData?.['ticketId']).toBe('INC-4711');
    expect(got?.additionalData?.['runbook']).toBeDefined();
  });

  it('count.get() returns a number parsed from text/plain, honouring the filter', async () => {
    const marker = `kiota-count-${randomUUID()}`;
    for (let i = 0; i < 3; i++) await graph.security.securityActions.post(blockIp(nextIp(), { clientContext: marker }));
    const n = await graph.security.securityActions.count.get({ queryParameters: { filter: `clientContext eq '${marker}'` } });
    expect(n).toBe(3);
    const none = await graph.security.securityActions.count.get({ queryParameters: { filter: `clientContext eq '${marker}' and status eq 'Failed'` } });
    expect(none).toBe(0);
  });

  it('cancelSecurityAction.post() (no body) resolves; the action keeps an enum status and a new state', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp()));
    await expect(graph.security.securityActions.bySecurityActionId(created!.id!).cancelSecurityAction.post()).resolves.toBeUndefined();
    const after = await graph.security.securityActions.bySecurityActionId(created!.id!).get();
    expect(after?.status).toBeDefined();
    expect(statusValues).toContain(after?.status);
    expect(after?.states).toHaveLength(2);
    for (const s of after?.states ?? []) {
      expect(statusValues).toContain(s.status);
      expectValidDate(s.updatedDateTime);
    }
    expect(typeof after?.additionalData?.['cancelledDateTime']).toBe('string');
    await expect(graph.security.securityActions.bySecurityActionId(created!.id!).cancelSecurityAction.post()).resolves.toBeUndefined();
  });

  it('maps errors to ODataError with error.code, message and innerError.requestId', async () => {
    const id = randomUUID();
    const notFound = await odataError(graph.security.securityActions.bySecurityActionId(id).get());
    expectODataError(notFound, 404, 'ResourceNotFound');
    expect(notFound.errorEscaped?.message).toContain(id);

    expectODataError(await odataError(graph.security.securityActions.bySecurityActionId(id).cancelSecurityAction.post()), 404, 'ResourceNotFound');

    const unknownAction = await odataError(graph.security.securityActions.post({ name: 'LaunchMissiles', parameters: [{ name: 'IP', value: nextIp() }] }));
    expectODataError(unknownAction, 400, 'InvalidAction');
    expect(unknownAction.errorEscaped?.message).toContain('LaunchMissiles');

    const badParameter = await odataError(graph.security.securityActions.post({ name: 'BlockIp', parameters: [{ name: 'IP', value: 'not-an-ip' }] }));
    expectODataError(badParameter, 400, 'InvalidAction');

    const noProvider = await odataError(graph.security.securityActions.post(blockIp(nextIp(), { vendorInformation: { provider: 'Windows Defender ATP', vendor: 'Microsoft' } })));
    expectODataError(noProvider, 400, 'ProviderNotFound');

    const badFilter = await odataError(graph.security.securityActions.get({ queryParameters: { filter: "status eq 'NotStarted' and" } }));
    expectODataError(badFilter, 400, 'BadRequest');
  });

  it('answers the SDK-generated (undocumented) patch() and delete() with 405 ODataError', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp()));
    const item = graph.security.securityActions.bySecurityActionId(created!.id!);
    expectODataError(await odataError(item.patch({ actionReason: 'changed' })), 405, 'MethodNotAllowed');
    expectODataError(await odataError(item.delete()), 405, 'MethodNotAllowed');
    expect((await item.get())?.actionReason).toBe('conformance: kiota');
  });

  it('maps 403 for a read-only app that posts, and reads work for it', async () => {
    const reader = await kiotaSetup(b, [roles.read]);
    const list = await reader.graph.security.securityActions.get();
    expect(Array.isArray(list?.value)).toBe(true);
    expectODataError(await odataError(reader.graph.security.securityActions.post(blockIp(nextIp()))), 403, 'Authorization_RequestDenied');
  });

  it('attaches no token when the AllowedHostsValidator does not list the host, and Bulwark answers 401', async () => {
    // Graph's own host only (the default a user starts from) and `host:port`: the installed
    // kiota-abstractions compares the URL's hostname without the port, so neither matches 127.0.0.1.
    for (const hosts of [['graph.microsoft.com'], [`127.0.0.1:${b.port}`]]) {
      const wrongHosts = tokenProvider(() => b.clientCredentialsToken(app), hosts);
      const client = createBetaClient(`${b.url}/beta`, wrongHosts);
      const err = await odataError(client.security.securityActions.get());
      expectODataError(err, 401, 'InvalidAuthenticationToken');
      expect(err.responseHeaders?.['www-authenticate']?.[0]).toMatch(/^Bearer\b/);
      expect(wrongHosts.calls).toBe(0);
    }
  });

  it('works against the v1.0 prefix as base URL', async () => {
    const v1 = createBetaClient(`${b.url}/v1.0`, tokens);
    const created = await v1.security.securityActions.post(blockIp(nextIp()));
    expect(created?.status).toBe(OperationStatusObject.NotStarted);
    expect(created?.additionalData?.['@odata.context']).toBe(`${b.url}/v1.0/$metadata#security/securityActions/$entity`);
    expect((await v1.security.securityActions.bySecurityActionId(created!.id!).get())?.id).toBe(created?.id);
    expect(await v1.security.securityActions.count.get({ queryParameters: { filter: `id eq '${created!.id!}'` } })).toBe(1);
  });
});

describe('Kiota beta SDK models through the engine (status progress, errorInfo)', () => {
  let b: HttpsBulwark;
  let graph: BetaClientWithSecurity;
  let hooks: http.Server;
  const hookRequests: string[] = [];

  beforeAll(async () => {
    // A provider endpoint: accepts on /accept, refuses on /refuse (a non-retryable 403 fails the action).
    hooks = http.createServer((req, res) => {
      hookRequests.push(`${req.method} ${req.url} ${req.headers['x-bulwark-event'] ?? ''}`);
      req.resume();
      req.on('end', () => {
        res.statusCode = req.url === '/accept' ? 204 : 403;
        res.end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    const hookBase = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
    const secret = 'conformance-webhook-secret-0123456789';
    b = await startHttpsBulwark({
      engine: true,
      overrides: {
        providers: [
          { type: 'feeds', provider: 'feeds' },
          { type: 'webhook', provider: 'hook-accept', endpoint: `${hookBase}/accept`, secret },
          { type: 'webhook', provider: 'hook-refuse', endpoint: `${hookBase}/refuse`, secret },
        ],
        engine: { pollIntervalMs: 100, backoffBaseMs: 50 },
      },
    });
    ({ graph } = await kiotaSetup(b));
  });

  afterAll(async () => {
    await b?.close();
    await new Promise((resolve) => hooks?.close(resolve));
  });

  /** Reads the action with Kiota until `done` holds; every status seen must be an enum member. */
  async function readUntil(id: string, done: (a: SecurityAction) => boolean, timeoutMs = 15_000): Promise<{ action: SecurityAction; seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = await graph.security.securityActions.bySecurityActionId(id).get();
      expect(a?.status).toBeDefined();
      expect(statusValues).toContain(a?.status);
      for (const s of a?.states ?? []) expect(statusValues).toContain(s.status);
      seen.push(a!.status!);
      if (done(a!)) return { action: a!, seen };
      if (Date.now() > deadline) throw new Error(`action ${id} did not reach the expected state; statuses seen: ${[...new Set(seen)].join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('a delivered action reaches Completed with completedDateTime as a Date', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp(), { vendorInformation: { provider: 'hook-accept' } }));
    expect(created?.status).toBe(OperationStatusObject.NotStarted);
    const { action } = await readUntil(created!.id!, (a) => a.status === OperationStatusObject.Completed);
    expectValidDate(action.completedDateTime);
    expect(action.errorInfo?.code).toBeUndefined(); // null on the wire, `{}` in Kiota
    expect(action.vendorInformation?.provider).toBe('hook-accept');
    expect(hookRequests.some((r) => r.startsWith('POST /accept'))).toBe(true);
  });

  it('a refused action reaches Failed with errorInfo.code/subcode as numbers', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp(), { vendorInformation: { provider: 'hook-refuse' } }));
    const { action } = await readUntil(created!.id!, (a) => a.status === OperationStatusObject.Failed);
    expect(action.errorInfo).toBeTruthy();
    expect(typeof action.errorInfo?.code).toBe('number');
    expect(action.errorInfo?.code).toBe(403);
    expect(typeof action.errorInfo?.subcode).toBe('number');
    expect(action.errorInfo?.message).toContain('403');
    const failed = await graph.security.securityActions.count.get({ queryParameters: { filter: `id eq '${created!.id!}' and status eq 'Failed'` } });
    expect(failed).toBe(1);
  });

  it('cancelling a completed action keeps every status an enum member while it is withdrawn', async () => {
    const created = await graph.security.securityActions.post(blockIp(nextIp()));
    const { action: completed } = await readUntil(created!.id!, (a) => a.status === OperationStatusObject.Completed);
    const statesBefore = completed.states!.length;
    await graph.security.securityActions.bySecurityActionId(created!.id!).cancelSecurityAction.post();
    // The cancel records one state; the engine's withdrawal records at least one more and settles.
    const { action, seen } = await readUntil(
      created!.id!,
      (a) => (a.states?.length ?? 0) >= statesBefore + 2 && a.status !== OperationStatusObject.Running,
    );
    expect(seen.every((s) => statusValues.includes(s))).toBe(true);
    expect(typeof action.additionalData?.['cancelledDateTime']).toBe('string');
    for (const s of action.states ?? []) expectValidDate(s.updatedDateTime);
  });
});
