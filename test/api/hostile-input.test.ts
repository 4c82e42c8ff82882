import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import type { TestService } from '../helpers/service.js';
import { blockIp, cancelPath, collectionPath, countOf, createAction, expectGraphError, getJson, is4xx, itemPath, startApiService } from './support.js';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request exactly as written (fetch would normalise `..` and encode the path). */
function raw(baseUrl: string, options: { path: string; method?: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<RawResponse> {
  const u = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: options.path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** Graph's envelope on a raw response: 4xx, JSON, non-empty code, request-id header = innerError. */
function expectRawGraphError(res: RawResponse, label: string, status?: number): void {
  if (status !== undefined) expect(res.status, `${label}: ${res.body.slice(0, 300)}`).toBe(status);
  else expect(is4xx(res.status), `${label}: ${res.status} ${res.body.slice(0, 300)}`).toBe(true);
  expect(res.headers['content-type'], label).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as { error: { code: string; message: string; innerError: Record<string, string> } };
  expect(body.error.code.length, label).toBeGreaterThan(0);
  expect(body.error.message.length, label).toBeGreaterThan(0);
  expect(res.headers['request-id'], label).toBeTruthy();
  expect(body.error.innerError['request-id'], label).toBe(res.headers['request-id']);
  expect(body.error.innerError['client-request-id'], label).toBe(res.headers['client-request-id']);
}

const nested = (depth: number, inner = '') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
const validPrefix = '{"name":"BlockIp","parameters":[{"name":"IP","value":"203.0.113.50"}]';

/** Create bodies that must each be refused with a 4xx (status when it is specific). */
const hostileBodies: [string, string | Buffer, number | undefined, string?][] = [
  ['malformed JSON', '{"name":"BlockIp",', 400],
  ['trailing garbage', `${validPrefix}}xyz`, 400],
  ['single quotes', "{'name':'BlockIp'}", 400],
  ['NaN literal', `${validPrefix},"x":NaN}`, 400],
  ['array body', JSON.stringify([blockIp('203.0.113.50')]), 400],
  ['string body', '"BlockIp"', 400],
  ['number body', '42', 400],
  ['null body', 'null', 400],
  ['name is a number', JSON.stringify({ name: 5, parameters: [{ name: 'IP', value: '203.0.113.50' }] }), 400],
  ['parameters is a string', JSON.stringify({ name: 'BlockIp', parameters: 'x' }), 400],
  ['parameters is an object', JSON.stringify({ name: 'BlockIp', parameters: { IP: '203.0.113.50' } }), 400],
  ['parameter value is a number', JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: 3405803826 }] }), 400],
  ['parameter name is a number', JSON.stringify({ name: 'BlockIp', parameters: [{ name: 7, value: '203.0.113.50' }] }), 400],
  ['parameter is a string', JSON.stringify({ name: 'BlockIp', parameters: ['IP=203.0.113.50'] }), 400],
  ['too many parameters', JSON.stringify({ name: 'BlockIp', parameters: Array.from({ length: 1000 }, () => ({ name: 'IP', value: '203.0.113.50' })) }), 400],
  ['clientContext is a number', `${validPrefix},"clientContext":5}`, 400],
  ['actionReason is an object', `${validPrefix},"actionReason":{}}`, 400],
  ['vendorInformation is a string', `${validPrefix},"vendorInformation":"feeds"}`, 400],
  ['vendorInformation.provider is a number', `${validPrefix},"vendorInformation":{"provider":1}}`, 400],
  ['100k nested arrays as the whole body', nested(100_000), 400],
  ['100k nested arrays in an extra property', `${validPrefix},"x":${nested(100_000)}}`, 400],
  ['100k nested objects in an extra property', `${validPrefix},"x":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`, 400],
  ['100k nested arrays as a parameter value', `{"name":"BlockIp","parameters":[{"name":"IP","value":${nested(100_000)}}]}`, 400],
  ['huge actionReason', JSON.stringify(blockIp('203.0.113.50', { actionReason: 'r'.repeat(500_000) })), 400],
  ['huge name', JSON.stringify({ name: 'B'.repeat(900_000), parameters: [{ name: 'IP', value: '203.0.113.50' }] }), 400],
  ['huge parameter value', JSON.stringify({ name: 'BlockUrl', parameters: [{ name: 'Url', value: `https://evil.example/${'a'.repeat(900_000)}` }] }), 400],
  ['huge property name', `${validPrefix},"${'k'.repeat(500_000)}":1}`, 400],
  ['body over 1 MiB', JSON.stringify(blockIp('203.0.113.50', { pad: 'x'.repeat(1024 * 1024) })), 413],
  ['NUL in clientContext', `${validPrefix},"clientContext":"a\\u0000b"}`, 400],
  ['escape in actionReason', `${validPrefix},"actionReason":"\\u001b[31mred"}`, 400],
  ['NUL in action name', '{"name":"Block\\u0000Ip","parameters":[{"name":"IP","value":"203.0.113.50"}]}', 400],
  ['NUL after the IP', '{"name":"BlockIp","parameters":[{"name":"IP","value":"203.0.113.50\\u0000"}]}', 400],
  ['newline in domain', '{"name":"BlockDomain","parameters":[{"name":"Domain","value":"evil.example\\nlocalhost"}]}', 400],
  ['NUL in an extra property', `${validPrefix},"note":"a\\u0000b"}`, 400],
  ['NUL in a nested extra key', `${validPrefix},"note":{"a\\u0000":1}}`, 400],
  ['lone surrogate in clientContext', `${validPrefix},"clientContext":"\\ud800"}`, 400],
  ['lone surrogate in an extra property', `${validPrefix},"note":"x\\udc00y"}`, 400],
  ['lone surrogate in the IP', '{"name":"BlockIp","parameters":[{"name":"IP","value":"203.0.113.50\\ud800"}]}', 400],
  ['__proto__ at the top', `${validPrefix},"__proto__":{"isAdmin":true}}`, 400],
  ['__proto__ in a parameter', '{"name":"BlockIp","parameters":[{"name":"IP","value":"203.0.113.50","__proto__":{"value":"127.0.0.1"}}]}', 400],
  ['__proto__ in vendorInformation', `${validPrefix},"vendorInformation":{"__proto__":{"provider":"x"}}}`, 400],
  ['constructor.prototype', `${validPrefix},"constructor":{"prototype":{"polluted":true}}}`, 400],
  ['invalid extra property name', `${validPrefix},"bad key; drop":1}`, 400],
  ['invalid UTF-8 bytes', Buffer.concat([Buffer.from(`${validPrefix},"clientContext":"`), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]), 400],
];

for (const backend of backends()) {
  describe(`hostile input (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    /** After a battery: nothing stored for the tenant, a normal create/get works, /healthz is 200. */
    async function expectHealthy(token: string, stored = 0): Promise<void> {
      expect(await countOf(svc, token)).toBe(stored);
      const created = await createAction(svc, token, blockIp());
      const { res } = await getJson(svc, itemPath(created['id']), token);
      expect(res.status).toBe(200);
      expect((await svc.fetch('/healthz')).status).toBe(200);
    }

    it('refuses each hostile create body with a 4xx Graph error and stores nothing', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      for (const [label, body, status] of hostileBodies) {
        const res = await raw(svc.url, {
          path: collectionPath(),
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        });
        expectRawGraphError(res, label, status);
      }
      await expectHealthy(token);
    });

    it('refuses wrong Content-Types with 415 and stores nothing', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const body = JSON.stringify(blockIp('203.0.113.51'));
      const contentTypes: (string | undefined)[] = [undefined, 'text/plain', 'text/plain; charset=utf-8', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx', 'json'];
      for (const contentType of contentTypes) {
        const res = await raw(svc.url, {
          path: collectionPath(),
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, ...(contentType ? { 'content-type': contentType } : {}) },
          body,
        });
        expectRawGraphError(res, String(contentType), 415);
        if (contentType) expect(JSON.parse(res.body).error.message, contentType).toContain(contentType.split(';')[0]);
      }
      // fetch with a string body and no explicit type sends text/plain
      await expectGraphError(await svc.fetch(collectionPath(), { method: 'POST', token, body }), 415);
      // an accepted JSON variant, for contrast
      const ok = await svc.fetch(collectionPath(), { method: 'POST', token, headers: { 'content-type': 'application/json; charset=utf-8' }, body });
      expect(ok.status).toBe(201);
      await expectHealthy(token, 1);
    });

    it('refuses an empty create body with 400', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      for (const body of ['', '   ', '{}']) {
        await expectGraphError(await svc.fetch(collectionPath(), { method: 'POST', token, headers: { 'content-type': 'application/json' }, body }), 400);
      }
      await expectGraphError(await svc.fetch(collectionPath(), { method: 'POST', token }), 400);
      await expectHealthy(token);
    });

    it('answers injection attempts in $filter, $orderby, $select and $top with a Graph 400 and leaks nothing', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const mine = await createAction(svc, token, blockIp('203.0.113.52', { clientContext: 'victim' }));
      // another tenant's action that an injection would reveal
      await createAction(svc, await svc.token({ tenant: svc.newTenant() }), blockIp('203.0.113.52', { clientContext: 'victim' }));
      const refused: string[] = [
        `$filter=${encodeURIComponent("'; DROP TABLE actions; --")}`,
        `$filter=${encodeURIComponent("name eq 'x'; DROP TABLE actions; --")}`,
        `$filter=${encodeURIComponent("status eq 'x' or 1 eq 1")}`,
        `$filter=${encodeURIComponent('1 eq 1')}`,
        `$filter=${encodeURIComponent("name eq 'BlockIp")}`,
        `$filter=${encodeURIComponent("name eq BlockIp'")}`,
        `$filter=${encodeURIComponent("name eq '''")}`,
        `$filter=${encodeURIComponent("name eq 'a' or tenant_id ne ''")}`,
        `$filter=${encodeURIComponent("name eq 'a') or (1 eq 1")}`,
        `$filter=${encodeURIComponent("contains(name,'a'))")}`,
        `$filter=${encodeURIComponent("name eq 'a' -- comment")}`,
        `$filter=${encodeURIComponent('name eq null or true')}`,
        `$filter=${encodeURIComponent("clientContext eq 'victim' /* x */")}`,
        `$filter=${encodeURIComponent(`${'('.repeat(5000)}name eq 'x'${')'.repeat(5000)}`)}`,
        `$filter=${encodeURIComponent(Array.from({ length: 3000 }, () => "name eq 'x'").join(' or '))}`,
        `$filter=${encodeURIComponent("parameters/any(p: p/value eq '1' or 1 eq 1)")}`,
        `$filter=${encodeURIComponent("parameters/all(p: p/value ne 'x')")}`,
        `$filter=${encodeURIComponent("name eq 'x\u0000'")}`,
        `$orderby=${encodeURIComponent('name; DROP TABLE actions')}`,
        `$orderby=${encodeURIComponent('(select 1)')}`,
        `$orderby=${encodeURIComponent('name desc desc')}`,
        `$select=${encodeURIComponent('*,secret_hash')}`,
        `$select=${encodeURIComponent('tenant_id')}`,
        `$top=${encodeURIComponent('1;DROP TABLE actions')}`,
        `$skip=${encodeURIComponent('0 or 1=1')}`,
        `$count=${encodeURIComponent("true' or '1'='1")}`,
        '$filter=',
        '$filter=%ZZ',
      ];
      for (const query of refused) {
        const res = await raw(svc.url, { path: `${collectionPath()}?${query}`, headers: { authorization: `Bearer ${token}` } });
        expectRawGraphError(res, query.slice(0, 120), 400);
        const count = await raw(svc.url, { path: `${collectionPath()}/$count?${query}`, headers: { authorization: `Bearer ${token}` } });
        expectRawGraphError(count, `$count ${query.slice(0, 120)}`);
      }
      // Valid filters whose literals look like SQL find nothing (values are bound, never spliced).
      const harmless = ["name eq 'BlockIp'' or ''1''=''1'", "clientContext eq 'victim'' --'", "clientContext eq '%'", "startswith(clientContext,'%')", "contains(clientContext,'_')"];
      for (const filter of harmless) {
        const { res, body } = await getJson(svc, `${collectionPath()}?$filter=${encodeURIComponent(filter)}`, token);
        expect(res.status, filter).toBe(200);
        expect(body.value, filter).toEqual([]);
      }
      // The table is still there and the tenant still sees exactly its own action.
      const { body } = await getJson(svc, `${collectionPath()}?$filter=${encodeURIComponent("clientContext eq 'victim'")}`, token);
      expect(body.value.map((a: { id: string }) => a.id)).toEqual([mine['id']]);
      await expectHealthy(token, 1);
    });

    it('answers path traversal, encoded junk and very long ids with a 4xx Graph error', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const auth = { authorization: `Bearer ${token}` };
      const base = collectionPath();
      const ids = [
        '../../etc/passwd',
        '..%2F..%2Fetc%2Fpasswd',
        '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
        '%2e%2e',
        '..',
        '%00',
        '%ZZ',
        '%',
        "x'%20or%20'1'='1",
        '%27%3B%20DROP%20TABLE%20actions%3B%20--',
        '$metadata',
        '$filter',
        `${crypto.randomUUID()}%00`,
        `${crypto.randomUUID()}..%2F`,
        'a'.repeat(3000),
        'a'.repeat(12_000),
        '%F0%9F%92%A3',
        '%C0%AE%C0%AE%2F',
      ];
      for (const id of ids) {
        expectRawGraphError(await raw(svc.url, { path: `${base}/${id}`, headers: auth }), `GET ${id.slice(0, 60)}`);
        expectRawGraphError(await raw(svc.url, { path: `${base}/${id}/cancelSecurityAction`, method: 'POST', headers: auth }), `cancel ${id.slice(0, 60)}`);
      }
      await expectHealthy(token);
    });

    it('answers oversized request lines and headers with a Graph error', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const hugeUrl = await raw(svc.url, { path: `${collectionPath()}?$filter=${'a'.repeat(40_000)}`, headers: { authorization: `Bearer ${token}` } });
      expectRawGraphError(hugeUrl, 'huge URL');
      const hugeHeader = await raw(svc.url, { path: collectionPath(), headers: { authorization: `Bearer ${'a'.repeat(40_000)}` } });
      expectRawGraphError(hugeHeader, 'huge Authorization header');
      const longToken = await raw(svc.url, { path: collectionPath(), headers: { authorization: `Bearer ${'a.'.repeat(5000)}a` } });
      expectRawGraphError(longToken, 'long token', 401);
      await expectHealthy(token);
    });

    it('keeps client-request-id safe: odd values are not echoed verbatim', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      for (const value of ['<script>alert(1)</script>', 'x'.repeat(5000), 'a b c']) {
        const res = await svc.fetch(collectionPath(), { token, headers: { 'client-request-id': value } });
        expect(res.status).toBe(200);
        expect(res.headers.get('client-request-id')).not.toBe(value);
        expect(res.headers.get('client-request-id')).toBeTruthy();
      }
    });

    it('the hostile requests of other tests did not disturb cancel either', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const created = await createAction(svc, token);
      const res = await svc.fetch(cancelPath(created['id']), { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: nested(100_000) });
      await expectGraphError(res, 400);
      const { body } = await getJson(svc, itemPath(created['id']), token);
      expect(body['cancelledDateTime']).toBeNull();
    });
  });
}
