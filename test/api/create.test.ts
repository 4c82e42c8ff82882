import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, type TestService } from '../helpers/service.js';
import {
  blockIp, collectionPath, countOf, createAction, expectGraphError, getJson, guidPattern, isoUtcPattern, postJson, randomIp, versions, startApiService } from './support.js';

for (const backend of backends()) {
  describe(`POST /security/securityActions (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startApiService({ backend });
    });
    afterAll(async () => svc?.close());

    for (const version of versions) {
      describe(version, () => {
        it('answers 201 with the full entity, a Location that GETs 200', async () => {
          const tenant = svc.newTenant();
          const token = await svc.token({ tenant, app: 'soar-app' });
          const before = Date.now();
          const res = await postJson(svc, collectionPath(version), token, blockIp('203.0.113.7', { clientContext: 'ctx-1' }));
          const after = Date.now();
          expect(res.status).toBe(201);
          expect(res.headers.get('content-type')).toMatch(/^application\/json/);
          const body = (await res.json()) as Record<string, any>;

          expect(body['id']).toMatch(guidPattern);
          expect(body['status']).toBe('NotStarted');
          expect(body['name']).toBe('BlockIp');
          expect(body['actionReason']).toBe('api test');
          expect(body['clientContext']).toBe('ctx-1');
          expect(body['parameters']).toEqual([{ name: 'IP', value: '203.0.113.7' }]);
          expect(body['appId']).toBe('soar-app');
          expect(body['azureTenantId']).toBe(tenant);
          expect(body['user']).toBeNull();
          expect(body['errorInfo']).toBeNull();
          expect(body['completedDateTime']).toBeNull();
          expect(body['vendorInformation']).toMatchObject({ provider: 'feeds' });
          expect(body['@odata.context']).toBe(`${svc.url}${version}/$metadata#security/securityActions/$entity`);
          for (const k of ['createdDateTime', 'lastActionDateTime']) {
            expect(body[k]).toMatch(isoUtcPattern);
            const t = Date.parse(body[k]);
            expect(t).toBeGreaterThanOrEqual(before - 5);
            expect(t).toBeLessThanOrEqual(after + 5);
          }
          expect(body['states']).toHaveLength(1);
          const [state] = body['states'];
          expect(state).toMatchObject({ appId: 'soar-app', status: 'NotStarted', user: null });
          expect(Object.keys(state)).toEqual(expect.arrayContaining(['appId', 'status', 'updatedDateTime', 'user']));
          expect(state.updatedDateTime).toMatch(isoUtcPattern);

          const location = res.headers.get('location');
          expect(location).toBe(`${svc.url}${version}/security/securityActions/${body['id']}`);
          const got = await fetch(location!, { headers: { authorization: `Bearer ${token}` } });
          expect(got.status).toBe(200);
          const gotBody = (await got.json()) as Record<string, any>;
          expect(gotBody['id']).toBe(body['id']);
          expect(gotBody['parameters']).toEqual(body['parameters']);
          expect(gotBody['createdDateTime']).toBe(body['createdDateTime']);
        });

        it('records the user named in the token (upn) on the action and its first state', async () => {
          const token = await svc.token({ tenant: svc.newTenant(), user: 'analyst@contoso.example' });
          const body = await createAction(svc, token, blockIp(), version);
          expect(body['user']).toBe('analyst@contoso.example');
          expect(body['states'][0].user).toBe('analyst@contoso.example');
        });

        it('answers 403 to a read-only token and stores nothing', async () => {
          const tenant = svc.newTenant();
          const res = await postJson(svc, collectionPath(version), await svc.token({ tenant, roles: readOnly }), blockIp());
          await expectGraphError(res, 403);
          expect(await countOf(svc, await svc.token({ tenant }))).toBe(0);
        });

        it('answers 401 with WWW-Authenticate: Bearer without a token', async () => {
          const res = await postJson(svc, collectionPath(version), undefined, blockIp());
          await expectGraphError(res, 401);
          expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        });

        it('rejects an unknown action name with 400 naming it', async () => {
          const tenant = svc.newTenant();
          const token = await svc.token({ tenant });
          const res = await postJson(svc, collectionPath(version), token, { name: 'LaunchMissiles', parameters: [{ name: 'IP', value: '203.0.113.1' }] });
          const error = await expectGraphError(res, 400, 'LaunchMissiles');
          expect(error.message).toContain('BlockIp');
          expect(await countOf(svc, token)).toBe(0);
        });
      });
    }

    describe('server-set properties', () => {
      it('ignores id, status, appId, azureTenantId, user, times, states and errorInfo sent by the client', async () => {
        const tenant = svc.newTenant();
        const other = svc.newTenant();
        const token = await svc.token({ tenant, app: 'real-app' });
        const forged = {
          ...blockIp('203.0.113.9'),
          id: '11111111-2222-3333-4444-555555555555',
          status: 'Completed',
          appId: 'forged-app',
          azureTenantId: other,
          user: 'mallory@evil.example',
          createdDateTime: '2001-01-01T00:00:00Z',
          lastActionDateTime: '2001-01-01T00:00:00Z',
          completedDateTime: '2001-01-01T00:00:00Z',
          cancelledDateTime: '2001-01-01T00:00:00Z',
          expirationDateTime: '2001-01-01T00:00:00Z',
          errorInfo: { code: 1, subcode: 2, message: 'forged' },
          states: [{ appId: 'forged-app', status: 'Completed', updatedDateTime: '2001-01-01T00:00:00Z', user: 'mallory@evil.example' }],
        };
        const body = await createAction(svc, token, forged);
        expect(body['id']).not.toBe(forged.id);
        expect(body['id']).toMatch(guidPattern);
        expect(body['status']).toBe('NotStarted');
        expect(body['appId']).toBe('real-app');
        expect(body['azureTenantId']).toBe(tenant);
        expect(body['user']).toBeNull();
        expect(body['errorInfo']).toBeNull();
        expect(body['completedDateTime']).toBeNull();
        expect(body['cancelledDateTime']).toBeNull();
        expect(body['expirationDateTime']).toBeNull();
        expect(Date.parse(body['createdDateTime'])).toBeGreaterThan(Date.parse('2020-01-01T00:00:00Z'));
        expect(body['states']).toHaveLength(1);
        expect(body['states'][0]).toMatchObject({ appId: 'real-app', status: 'NotStarted', user: null });

        // The forged id is not an action anywhere, and the action lives in the caller's tenant only.
        expect((await svc.fetch(`${collectionPath()}/${forged.id}`, { token })).status).toBe(404);
        expect((await svc.fetch(`${collectionPath()}/${body['id']}`, { token: await svc.token({ tenant: other }) })).status).toBe(404);
        expect(await countOf(svc, await svc.token({ tenant: other }))).toBe(0);
      });

      it('accepts an entity read from GET posted back as a new action', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const first = await createAction(svc, token, blockIp('203.0.113.10', { clientContext: 'round-trip', customTag: 'kept' }));
        const { body: read } = await getJson(svc, `${collectionPath()}/${first['id']}`, token);
        const second = await createAction(svc, token, read);
        expect(second['id']).not.toBe(first['id']);
        expect(second['status']).toBe('NotStarted');
        expect(second['parameters']).toEqual(first['parameters']);
        expect(second['clientContext']).toBe('round-trip');
        expect(second['customTag']).toBe('kept');
        expect(second['states']).toHaveLength(1);
        expect(await countOf(svc, token)).toBe(2);
      });
    });

    describe('clientContext and open-type properties', () => {
      it('accepts a clientContext of 256 characters and refuses 257 with 400 naming clientContext', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const ok = await createAction(svc, token, blockIp(randomIp(), { clientContext: 'c'.repeat(256) }));
        expect(ok['clientContext']).toHaveLength(256);
        const res = await postJson(svc, collectionPath(), token, blockIp(randomIp(), { clientContext: 'c'.repeat(257) }));
        await expectGraphError(res, 400, 'clientContext');
        expect(await countOf(svc, token)).toBe(1);
      });

      it('keeps unknown extra properties and returns them on create, get and list', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const extras = { ticketId: 'INC-42', severity: 3, flags: [true, false], details: { source: 'siem', tags: ['a', 'b'] }, nothing: null };
        const created = await createAction(svc, token, blockIp(randomIp(), extras));
        expect(created).toMatchObject(extras);
        const { body: got } = await getJson(svc, `${collectionPath()}/${created['id']}`, token);
        expect(got).toMatchObject(extras);
        const { body: list } = await getJson(svc, collectionPath(), token);
        expect(list.value[0]).toMatchObject(extras);
      });

      it('refuses oversized, too deep or too many extra properties with 400 and stores nothing', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        let deep: unknown = 'leaf';
        for (let i = 0; i < 20; i++) deep = { d: deep };
        const manyKeys = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i]));
        for (const extra of [{ blob: 'x'.repeat(100_000) }, { deep }, manyKeys]) {
          await expectGraphError(await postJson(svc, collectionPath(), token, blockIp(randomIp(), extra)), 400);
        }
        expect(await countOf(svc, token)).toBe(0);
      });
    });

    describe('action catalog', () => {
      const cases: { body: Record<string, unknown>; name: string; parameters: { name: string; value: string }[] }[] = [
        { body: { name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.7' }] }, name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.7' }] },
        { body: { name: 'blockip', parameters: [{ name: 'ip', value: '10.0.0.7/24' }] }, name: 'BlockIp', parameters: [{ name: 'IP', value: '10.0.0.0/24' }] },
        { body: { name: 'BLOCKIP', parameters: [{ name: 'Ip', value: '2001:DB8:0:0::1' }] }, name: 'BlockIp', parameters: [{ name: 'IP', value: '2001:db8::1' }] },
        { body: { name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'Evil.Example' }] }, name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'evil.example' }] },
        { body: { name: 'blockdomain', parameters: [{ name: 'domain', value: 'bücher.example' }] }, name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'xn--bcher-kva.example' }] },
        { body: { name: 'BlockDomain', parameters: [{ name: 'Domain', value: '*.example.com' }] }, name: 'BlockDomain', parameters: [{ name: 'Domain', value: '*.example.com' }] },
        { body: { name: 'blockUrl', parameters: [{ name: 'url', value: 'https://evil.example/payload' }] }, name: 'BlockUrl', parameters: [{ name: 'Url', value: 'https://evil.example/payload' }] },
        { body: { name: 'BlockFile', parameters: [{ name: 'filehash', value: 'D41D8CD98F00B204E9800998ECF8427E' }] }, name: 'BlockFile', parameters: [{ name: 'FileHash', value: 'd41d8cd98f00b204e9800998ecf8427e' }] },
        { body: { name: 'BlockFile', parameters: [{ name: 'FileHash', value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709' }] }, name: 'BlockFile', parameters: [{ name: 'FileHash', value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709' }] },
        {
          body: { name: 'BlockFile', parameters: [{ name: 'FileHash', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }] },
          name: 'BlockFile',
          parameters: [{ name: 'FileHash', value: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }],
        },
      ];
      for (const c of cases) {
        it(`${c.body['name']} ${JSON.stringify(c.body['parameters'])} → ${c.name} ${c.parameters[0]!.value}`, async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const created = await createAction(svc, token, c.body);
          expect(created['name']).toBe(c.name);
          expect(created['parameters']).toEqual(c.parameters);
          const { body: got } = await getJson(svc, `${collectionPath()}/${created['id']}`, token);
          expect(got['name']).toBe(c.name);
          expect(got['parameters']).toEqual(c.parameters);
        });
      }

      it('resolves ExpirationDateTime to expirationDateTime', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const at = new Date(Date.now() + 86_400_000).toISOString();
        const created = await createAction(svc, token, { name: 'BlockIp', parameters: [{ name: 'IP', value: randomIp() }, { name: 'expirationdatetime', value: at }] });
        expect(created['expirationDateTime']).toBe(at);
        expect(created['parameters'][1]).toEqual({ name: 'ExpirationDateTime', value: at });
      });

      it('resolves Duration to expirationDateTime counted from creation', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const created = await createAction(svc, token, { name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'dur.example' }, { name: 'duration', value: 'PT4H' }] });
        expect(created['expirationDateTime']).toMatch(isoUtcPattern);
        const delta = Date.parse(created['expirationDateTime']) - Date.parse(created['createdDateTime']);
        expect(delta).toBe(4 * 3600 * 1000);
        expect(created['parameters'][1]).toEqual({ name: 'Duration', value: 'PT4H' });
      });

      const invalid: [string, Record<string, unknown>, string[]][] = [
        ['missing parameters', { name: 'BlockIp' }, ['parameters']],
        ['missing indicator parameter', { name: 'BlockIp', parameters: [{ name: 'Duration', value: 'PT1H' }] }, ['IP']],
        ['malformed IP', { name: 'BlockIp', parameters: [{ name: 'IP', value: '999.1.2.3' }] }, ['IP', '999.1.2.3']],
        ['malformed domain', { name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'not a domain' }] }, ['Domain']],
        ['non-http URL', { name: 'BlockUrl', parameters: [{ name: 'Url', value: 'ftp://evil.example/x' }] }, ['Url']],
        ['bad hash length', { name: 'BlockFile', parameters: [{ name: 'FileHash', value: 'abc123' }] }, ['FileHash']],
        ['unknown parameter', { name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.5' }, { name: 'Colour', value: 'red' }] }, ['Colour']],
        ['past ExpirationDateTime', { name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.5' }, { name: 'ExpirationDateTime', value: '2001-01-01T00:00:00Z' }] }, ['ExpirationDateTime']],
        ['malformed Duration', { name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.5' }, { name: 'Duration', value: 'four hours' }] }, ['Duration']],
        ['missing name', { parameters: [{ name: 'IP', value: '203.0.113.5' }] }, ['BlockIp']],
      ];
      for (const [label, body, mentions] of invalid) {
        it(`refuses ${label} with 400 naming ${mentions.join(', ')}`, async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const error = await expectGraphError(await postJson(svc, collectionPath(), token, body), 400);
          for (const m of mentions) expect(error.message).toContain(m);
          expect(await countOf(svc, token)).toBe(0);
        });
      }
    });

    describe('providers', () => {
      it('refuses an unknown vendorInformation.provider with Graph\'s message naming the available providers', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const res = await postJson(svc, collectionPath(), token, blockIp(randomIp(), { vendorInformation: { provider: 'Windows Defender ATP', vendor: 'Microsoft' } }));
        const error = await expectGraphError(res, 400, 'Cannot find a provider for this request');
        expect(error.message).toContain('Windows Defender ATP');
        expect(error.message).toContain('feeds');
        expect(await countOf(svc, token)).toBe(0);
      });

      it('routes to a provider named case-insensitively and keeps subProvider/providerVersion', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const created = await createAction(svc, token, blockIp(randomIp(), { vendorInformation: { provider: 'FEEDS', subProvider: 'edge', providerVersion: '1.2' } }));
        expect(created['vendorInformation']).toMatchObject({ provider: 'feeds', subProvider: 'edge', providerVersion: '1.2' });
      });
    });

    describe('guardrails', () => {
      const refused: [string, string][] = [
        ['0.0.0.0/0', '127.0.0.0/8'],
        ['127.0.0.1', '127.0.0.0/8'],
        ['::1', '::1'],
        ['169.254.1.1', '169.254.0.0/16'],
      ];
      for (const [ip, protectedEntry] of refused) {
        it(`refuses BlockIp ${ip} naming ${protectedEntry}`, async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          const error = await expectGraphError(await postJson(svc, collectionPath(), token, blockIp(ip)), 400);
          expect(error.message).toContain(protectedEntry);
          expect(await countOf(svc, token)).toBe(0);
        });
      }
      it('refuses BlockDomain localhost', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        const res = await postJson(svc, collectionPath(), token, { name: 'BlockDomain', parameters: [{ name: 'Domain', value: 'localhost' }] });
        await expectGraphError(res, 400);
        expect(await countOf(svc, token)).toBe(0);
      });
    });
  });
}
