import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import type { TestService } from '../helpers/service.js';
import { blockIp, startApiService } from './support.js';
import { httpsRequest, selfSignedCert } from './tls.js';

for (const backend of backends()) {
  describe(`HTTPS with --tls-cert/--tls-key (${backend.name})`, () => {
    let tls: ReturnType<typeof selfSignedCert>;
    let svc: TestService;
    beforeAll(async () => {
      tls = selfSignedCert();
      svc = await startApiService({ backend, overrides: { tlsCert: tls.cert, tlsKey: tls.key } });
    });
    afterAll(async () => {
      await svc?.close();
      fs.rmSync(tls.dir, { recursive: true, force: true });
    });

    it('serves the API over https with https links, Location and issuer', async () => {
      expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect((await httpsRequest(`${svc.url}/healthz`, tls.ca)).status).toBe(200);

      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const auth = { authorization: `Bearer ${token}` };
      const created = await httpsRequest(`${svc.url}/beta/security/securityActions`, tls.ca, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(blockIp('203.0.113.70')),
      });
      expect(created.status).toBe(201);
      const location = created.headers['location'] as string;
      expect(location).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/beta\/security\/securityActions\/[0-9a-f-]{36}$/);
      const got = await httpsRequest(location, tls.ca, { headers: auth });
      expect(got.status).toBe(200);
      expect(JSON.parse(got.body)['@odata.context']).toMatch(/^https:\/\//);

      await Promise.all([1, 2].map(() => httpsRequest(`${svc.url}/beta/security/securityActions`, tls.ca, {
        method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(blockIp()),
      })));
      const list = JSON.parse((await httpsRequest(`${svc.url}/v1.0/security/securityActions?$top=1`, tls.ca, { headers: auth })).body);
      expect(list['@odata.nextLink']).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/security\/securityActions\?/);

      const discovery = JSON.parse((await httpsRequest(`${svc.url}/${tenant}/v2.0/.well-known/openid-configuration`, tls.ca)).body);
      expect(discovery.issuer).toBe(`${svc.url}/${tenant}/v2.0`);
      expect(discovery.token_endpoint).toMatch(/^https:\/\//);
    });

    it('errors over https keep the Graph envelope', async () => {
      const res = await httpsRequest(`${svc.url}/beta/security/securityActions`, tls.ca);
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body).error.code).toBeTruthy();
      expect(res.headers['request-id']).toBeTruthy();
    });

    it('does not answer plain http on the TLS port', async () => {
      const plain = svc.url.replace(/^https:/, 'http:');
      const outcome = await fetch(`${plain}/healthz`).then((r) => r.status, () => 'refused');
      expect(outcome).not.toBe(200);
    });
  });
}
