import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { readOnly, startTestService, type TestService } from '../helpers/service.js';
import { blockIp, createAction, versions } from './support.js';

const secret = 'status-test-webhook-secret-0123456789';

/** `GET /security`: the `security` entity with `providerStatus` (issue 3 §1), per tenant. */
for (const backend of backends()) {
  describe(`GET /security (${backend.name})`, () => {
    let svc: TestService;
    const restricted = '0b6f4f4e-1c1e-4b3d-9c55-7a8f2d1e0c01';
    beforeAll(async () => {
      svc = await startTestService({
        backend,
        overrides: {
          providers: [
            { type: 'feeds', provider: 'feeds' },
            { type: 'agent', provider: 'edge-fw', vendor: 'Acme', region: 'eu-west' },
            // nothing listens on port 9: every delivery fails and is retried
            { type: 'webhook', provider: 'soar', endpoint: 'http://127.0.0.1:9/hook', secret, timeoutMs: 500 },
            { type: 'feeds', provider: 'old-feeds', enabled: false },
            { type: 'feeds', provider: 'tenant-only', tenants: [restricted] },
          ],
          engine: { backoffBaseMs: 60_000, backoffMaxMs: 60_000 },
        },
      });
    });
    afterAll(async () => svc?.close());

    const status = async (token: string, version = '/beta') => {
      const res = await svc.fetch(`${version}/security`, { token });
      return { res, body: (await res.json()) as { '@odata.context': string; id: string; providerStatus: any[] } };
    };

    for (const version of versions) {
      it(`lists the tenant's providers as securityProviderStatus plus health (${version})`, async () => {
        const tenant = svc.newTenant();
        const { res, body } = await status(await svc.token({ tenant, roles: readOnly }), version);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        expect(body['@odata.context']).toBe(`${svc.url}${version}/$metadata#security/$entity`);
        expect(body.id).toBe(tenant);
        expect(body.providerStatus.map((p) => p.provider)).toEqual(['feeds', 'edge-fw', 'soar', 'old-feeds']);
        const [feeds, agent, soar, old] = body.providerStatus;
        // The Graph securityProviderStatus members, exactly typed.
        expect(feeds).toMatchObject({ enabled: true, endpoint: `${svc.url}/feeds/${tenant}/`, provider: 'feeds', region: null, vendor: 'Bulwark', type: 'feeds', isDefault: true });
        expect(agent).toMatchObject({ enabled: true, endpoint: `${svc.url}/agents/${tenant}/edge-fw/changes`, provider: 'edge-fw', region: 'eu-west', vendor: 'Acme', type: 'agent', isDefault: false, supportedActions: ['BlockIp'] });
        expect(soar).toMatchObject({ enabled: true, endpoint: 'http://127.0.0.1:9/hook', type: 'webhook' });
        expect(old).toMatchObject({ enabled: false, provider: 'old-feeds' });
        // An agent provider with no registered agent cannot complete anything: it says so.
        expect(agent.health).toMatchObject({ state: 'waiting', agents: [], activeIndicators: 0 });
      });
    }

    it('reports active indicators, the stream cursor, registered agents with their lag, and a failing webhook as degraded', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      for (const ip of ['198.51.100.1', '198.51.100.2']) await createAction(svc, token, blockIp(ip));
      await createAction(svc, token, blockIp('198.51.100.3', { vendorInformation: { provider: 'edge-fw' } }));
      await createAction(svc, token, blockIp('198.51.100.4', { vendorInformation: { provider: 'soar' } }));
      await svc.credentials().createAgentCredential(tenant, 'edge-fw', 'fw-1');

      const deadline = Date.now() + 10_000;
      let body: Awaited<ReturnType<typeof status>>['body'];
      do {
        body = (await status(token)).body;
        const [feeds, agent, soar] = body.providerStatus;
        if (feeds.health.activeIndicators === 2 && agent.health.activeIndicators === 1 && soar.health.retryingJobs === 1) break;
        await new Promise((r) => setTimeout(r, 50));
      } while (Date.now() < deadline);
      const [feeds, agent, soar] = body.providerStatus;
      expect(feeds.health).toMatchObject({ state: 'ok', activeIndicators: 2, streamCursor: 2, pendingJobs: 0 });
      expect(agent.health).toMatchObject({ state: 'degraded', activeIndicators: 1, streamCursor: 1, waitingForAgents: 1 });
      expect(agent.health.agents).toEqual([{ id: expect.any(String), name: 'fw-1', confirmedCursor: 0, lag: 1, lastSeenDateTime: null }]);
      expect(soar.health).toMatchObject({ state: 'degraded', pendingJobs: 1, retryingJobs: 1 });
      expect(soar.health.lastError).toMatch(/webhook unreachable|timed out/);
    });

    it('shows a provider restricted to some tenants only to those tenants', async () => {
      const mine = (await status(await svc.token({ tenant: restricted, roles: readOnly }))).body.providerStatus.map((p) => p.provider);
      const other = (await status(await svc.token({ tenant: svc.newTenant(), roles: readOnly }))).body.providerStatus.map((p) => p.provider);
      expect(mine).toContain('tenant-only');
      expect(other).not.toContain('tenant-only');
    });

    it('needs a valid token with a securityActions role; other methods are 405', async () => {
      expect((await svc.fetch('/beta/security')).status).toBe(401);
      const noRole = await svc.fetch('/beta/security', { token: await svc.token({ roles: [] }) });
      expect(noRole.status).toBe(403);
      expect(((await noRole.json()) as { error: { code: string } }).error.code).toBe('Authorization_RequestDenied');
      const patch = await svc.fetch('/beta/security', { method: 'PATCH', token: await svc.token(), headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(patch.status).toBe(405);
      expect(patch.headers.get('allow')).toBe('GET, HEAD');
    });
  });
}
