import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { blockIp, createAction } from './support.js';

/** Issue 4 §7: /healthz, /readyz, /metrics. */
for (const backend of backends()) {
  describe(`operational endpoints (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ backend });
    });
    afterAll(async () => svc?.close());

    it('/healthz and /readyz answer without a token', async () => {
      const health = await svc.fetch('/healthz');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      const ready = await svc.fetch('/readyz');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'current' } });
    });

    it('/metrics is Prometheus text with requests by route and status, actions by status, engine backlog, feed and change-stream counters', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const created = await createAction(svc, token, blockIp('198.51.100.77'));
      await svc.fetch(`/beta/security/securityActions/${created['id']}`, { token });
      await svc.fetch('/beta/security/securityActions/not-a-guid', { token });
      const feed = await svc.credentials().createFeedCredential(tenant, 'metrics-test');
      // Once the block is published (cursor 1), a long poll from that cursor stays open.
      for (let deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
        const a = (await (await svc.fetch(`/beta/security/securityActions/${created['id']}`, { token })).json()) as { status: string };
        if (a.status === 'Completed') break;
      }
      const poll = svc.fetch(`/feeds/${tenant}/changes?since=1&wait=2`, { token: feed.token }).catch(() => undefined);
      await svc.fetch(`/feeds/${tenant}/ip.txt`, { token: feed.token });
      await new Promise((r) => setTimeout(r, 100));

      const res = await svc.fetch('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      expect(text).toMatch(/^bulwark_http_requests_total\{route="\/beta\/security\/securityActions",method="POST",status="201"\} [1-9]/m);
      expect(text).toMatch(/^bulwark_http_requests_total\{route="\/beta\/security\/securityActions\/:id",method="GET",status="404"\} [1-9]/m);
      expect(text).toMatch(/^bulwark_http_request_duration_seconds_bucket\{le="0\.005",route="\/beta\/security\/securityActions",method="POST",status="201"\} \d+/m);
      expect(text).toMatch(/^bulwark_actions\{status="(Completed|Running|NotStarted)"\} [1-9]/m);
      expect(text).toMatch(/^bulwark_engine_backlog\{state="due"\} \d+/m);
      expect(text).toMatch(/^bulwark_engine_backlog\{state="expired_leases"\} \d+/m);
      expect(text).toMatch(/^bulwark_engine_steps_total\{provider="feeds",kind="apply",outcome="done"\} [1-9]/m);
      expect(text).toMatch(/^bulwark_feed_requests_total\{file="ip.txt",status="200"\} [1-9]/m);
      expect(text).toMatch(/^bulwark_change_stream_clients [1-9]/m);
      expect(text).toMatch(/^bulwark_process_resident_memory_bytes \d+/m);
      // No tenant ids or indicators in labels.
      expect(text).not.toContain(tenant);
      expect(text).not.toContain('198.51.100.77');
      await poll;
    });

    it('/readyz answers 503 when the database is unreachable', async () => {
      const other = await startTestService({ backend });
      try {
        await other.service.database.db.destroy();
        const res = await other.fetch('/readyz');
        expect(res.status).toBe(503);
        const body = (await res.json()) as { status: string; checks: { database: string } };
        expect(body.status).toBe('not ready');
        expect(body.checks.database).toMatch(/^unreachable/);
        expect((await other.fetch('/healthz')).status).toBe(200);
      } finally {
        await other.close().catch(() => undefined);
      }
    });
  });
}
