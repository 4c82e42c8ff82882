import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import {
  blockDomain, blockIp, cancel, deferred, collection, create, ended, expectConsistentHistory, feedLines, feedToken, getAction, history, jobCount,
  ledgerCounts, ms, post, randomIp, startEngine, startReceiver, waitFor, waitForAction, withdrawalEnded, type ActionJson,
} from './support.js';

const secret = 'lifecycle-webhook-secret-0123456789';
const rejectedIp = '198.51.100.99';

async function countFor(svc: TestService, token: string): Promise<number> {
  const res = await svc.fetch(`${collection}/$count`, { token });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return Number(text);
}

async function expect400(svc: TestService, token: string, body: unknown, ...includes: string[]): Promise<string> {
  const r = await post(svc, token, body);
  expect(r.status, JSON.stringify(r.body)).toBe(400);
  const message = r.body.error.message as string;
  for (const part of includes) expect(message).toContain(part);
  return message;
}

for (const backend of backends()) {
  describe(`action lifecycle (${backend.name})`, () => {
    let svc: TestService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    /** deliveries of `<ip> <event>` wait for these before answering */
    const gates = new Map<string, ReturnType<typeof deferred>>();

    beforeAll(async () => {
      receiver = await startReceiver(secret, async (d) => {
        await gates.get(`${d.body?.indicator?.value} ${d.event}`)?.promise;
        return d.body?.indicator?.value === rejectedIp ? 400 : 200;
      });
      svc = await startTestService({
        backend,
        overrides: {
          providers: [
            { type: 'feeds', provider: 'feeds' },
            { type: 'webhook', provider: 'Edge-Hook', vendor: 'Contoso', endpoint: receiver.url, secret, timeoutMs: 2000 },
            { type: 'agent', provider: 'fw-agents' },
            { type: 'feeds', provider: 'legacy', enabled: false },
          ],
          guardrails: { protected: [{ value: '10.20.0.0/16', label: 'core network' }, 'intranet.corp.example'] },
        },
      });
    });
    afterAll(async () => {
      await svc?.close();
      await receiver?.close();
    });

    describe('feeds provider', () => {
      it('NotStarted (with its job, in the same transaction) → Running "dispatched" → Completed once published', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant, app: 'soar' });
        const ip = randomIp();
        const created = await create(svc, token, blockIp(ip));
        expect(created.status).toBe('NotStarted');
        expect(created.completedDateTime).toBeNull();
        expect(history(created)).toEqual([['NotStarted', 'created']]);
        expect(created.states[0]).toMatchObject({ appId: 'soar' });
        const done = await waitForAction(svc, token, created.id, 'completed', ended);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to feeds'],
          ['Completed', `published by feeds: ${ip} is blocked`],
        ]);
        expect(done.states.slice(1).map((s) => s.appId)).toEqual([null, null]);
        expect(done.errorInfo).toBeNull();
        expect(done.cancelledDateTime).toBeNull();
        expectConsistentHistory(done);
        expect(ms(done.completedDateTime)).toBeGreaterThanOrEqual(ms(done.createdDateTime));
        expect(await feedLines(svc, tenant, await feedToken(svc, tenant))).toEqual([ip]);
        expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
      });

      it('cancel after dispatch: Running (withdrawing) → Completed (withdrawn), and the feed no longer lists it', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant, app: 'canceller', user: 'analyst@contoso.example' });
        const feed = await feedToken(svc, tenant);
        const ip = randomIp();
        const created = await create(svc, token, blockIp(ip));
        await waitForAction(svc, token, created.id, 'completed', ended);
        expect(await feedLines(svc, tenant, feed)).toEqual([ip]);
        await cancel(svc, token, created.id);
        const during = await getAction(svc, token, created.id);
        // Either still withdrawing or already done; never "ended" without the withdrawal.
        expect(during.cancelledDateTime).not.toBeNull();
        const done = await waitForAction(svc, token, created.id, 'withdrawn', withdrawalEnded);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to feeds'],
          ['Completed', `published by feeds: ${ip} is blocked`],
          ['Running', 'cancel requested; withdrawing'],
          ['Completed', 'withdrawn from feeds'],
        ]);
        expect(done.states[3]).toMatchObject({ appId: 'canceller', user: 'analyst@contoso.example' });
        expect(ms(done.completedDateTime)).toBeGreaterThanOrEqual(ms(done.cancelledDateTime));
        expectConsistentHistory(done, { cancelClockSkewMs: 50 });
        expect(await feedLines(svc, tenant, feed)).toEqual([]);
        expect((await ledgerCounts(svc.service.database.db, tenant)).size).toBe(0);
      });

      it('expiry: Running ("expired …; withdrawing") → Completed (withdrawn)', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        const ip = randomIp();
        const created = await create(svc, token, blockIp(ip, { duration: 'PT1S' }));
        expect(ms(created.expirationDateTime)).toBe(ms(created.createdDateTime) + 1000);
        const done = await waitForAction(svc, token, created.id, 'expired and withdrawn', withdrawalEnded);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to feeds'],
          ['Completed', `published by feeds: ${ip} is blocked`],
          ['Running', `expired at ${created.expirationDateTime}; withdrawing`],
          ['Completed', 'withdrawn from feeds'],
        ]);
        expect(ms(done.states[3]!.updatedDateTime)).toBeGreaterThanOrEqual(ms(created.expirationDateTime));
        expect(done.cancelledDateTime).toBeNull();
        expectConsistentHistory(done);
        expect(await feedLines(svc, tenant, await feedToken(svc, tenant))).toEqual([]);
      });
    });

    describe('webhook provider', () => {
      it('Completed only after the block was delivered (signed, with an idempotency key); cancel delivers the unblock', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        const ip = randomIp();
        const created = await create(svc, token, blockIp(ip, { provider: 'edge-hook' }));
        expect(created.vendorInformation).toMatchObject({ provider: 'Edge-Hook', vendor: 'Contoso' });
        const done = await waitForAction(svc, token, created.id, 'completed', ended);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to Edge-Hook'],
          ['Completed', 'block delivered to Edge-Hook (webhook answered 200)'],
        ]);
        expectConsistentHistory(done);
        const blocks = receiver.byKey(`${created.id}:block`);
        expect(blocks).toHaveLength(1);
        expect(blocks[0]).toMatchObject({ event: 'block', signatureValid: true });
        expect(blocks[0]!.body).toMatchObject({ event: 'block', tenantId: tenant, indicator: { type: 'ip', value: ip }, action: { id: created.id, name: 'BlockIp' } });
        expect(blocks[0]!.at).toBeLessThanOrEqual(ms(done.completedDateTime));
        expect(blocks[0]!.at).toBeGreaterThanOrEqual(ms(done.states[1]!.updatedDateTime));

        await cancel(svc, token, created.id);
        const withdrawnAction = await waitForAction(svc, token, created.id, 'withdrawn', withdrawalEnded);
        expect(history(withdrawnAction).slice(3)).toEqual([
          ['Running', 'cancel requested; withdrawing'],
          ['Completed', 'unblock delivered to Edge-Hook (webhook answered 200)'],
        ]);
        expectConsistentHistory(withdrawnAction);
        const unblocks = receiver.byKey(`${created.id}:unblock`);
        expect(unblocks).toHaveLength(1);
        expect(unblocks[0]).toMatchObject({ event: 'unblock', signatureValid: true });
        expect(unblocks[0]!.at).toBeLessThanOrEqual(ms(withdrawnAction.completedDateTime));
      });

      it('a cancel while the block is on its way: Running until the unblock is delivered, never Completed in between', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        const ip = randomIp();
        const block = deferred();
        const unblock = deferred();
        gates.set(`${ip} block`, block);
        gates.set(`${ip} unblock`, unblock);
        const created = await create(svc, token, blockIp(ip, { provider: 'Edge-Hook' }));
        await waitFor('the block delivery', async () => receiver.byKey(`${created.id}:block`).length === 1);
        await cancel(svc, token, created.id);
        block.resolve();
        await waitFor('the unblock delivery', async () => receiver.byKey(`${created.id}:unblock`).length === 1);
        const between = await getAction(svc, token, created.id);
        expect(history(between)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to Edge-Hook'],
          ['Running', 'cancel requested; withdrawing'],
          ['Running', 'block delivered to Edge-Hook (webhook answered 200); withdrawal pending'],
        ]);
        expect(between.completedDateTime).toBeNull();
        unblock.resolve();
        const done = await waitForAction(svc, token, created.id, 'withdrawn', ended);
        expect(history(done).slice(4)).toEqual([['Completed', 'unblock delivered to Edge-Hook (webhook answered 200)']]);
        expectConsistentHistory(done, { cancelClockSkewMs: 50 });
        expect(receiver.byKey(`${created.id}:block`)).toHaveLength(1);
        expect(receiver.byKey(`${created.id}:unblock`)).toHaveLength(1);
        expect((await ledgerCounts(svc.service.database.db, tenant, 'Edge-Hook')).size).toBe(0);
      });

      it('a 4xx answer fails the action with errorInfo.code = the HTTP status, and the block stops counting', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        const created = await create(svc, token, blockIp(rejectedIp, { provider: 'Edge-Hook' }));
        const failed = await waitForAction(svc, token, created.id, 'failed', ended);
        expect(failed.status).toBe('Failed');
        expect(failed.errorInfo).toEqual({ code: 400, subcode: 0, message: 'webhook Edge-Hook rejected the block with HTTP 400' });
        expect(history(failed)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to Edge-Hook'],
          ['Failed', 'Edge-Hook: webhook Edge-Hook rejected the block with HTTP 400'],
        ]);
        expectConsistentHistory(failed);
        expect((await ledgerCounts(svc.service.database.db, tenant, 'Edge-Hook')).size).toBe(0);
        expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
      });
    });

    describe('agent provider', () => {
      it('stays Running until every registered agent has confirmed, then Completed', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        const credentials = svc.credentials();
        const agents = [await credentials.createAgentCredential(tenant, 'FW-AGENTS', 'fw-1'), await credentials.createAgentCredential(tenant, 'fw-agents', 'fw-2')];
        const ip = randomIp();
        const created = await create(svc, token, blockIp(ip, { provider: 'FW-Agents' }));
        expect(created.vendorInformation.provider).toBe('fw-agents');
        const waiting = await waitForAction(svc, token, created.id, 'published to the change stream', (a) => a.states.length >= 3);
        const changes = await fetch(`${svc.url}/agents/${tenant}/fw-agents/changes`, { headers: { authorization: `Bearer ${agents[0]!.token}` } });
        const batch = (await changes.json()) as { cursor: number };
        expect(changes.status).toBe(200);
        expect(history(waiting)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to fw-agents'],
          ['Running', `published to fw-agents's change stream; waiting for 2 agent(s) to confirm`],
        ]);
        expect(waiting.completedDateTime).toBeNull();

        const confirm = async (i: number) => {
          const res = await fetch(`${svc.url}/agents/${tenant}/fw-agents/confirm`, {
            method: 'POST',
            headers: { authorization: `Bearer ${agents[i]!.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ cursor: batch.cursor }),
          });
          expect(res.status, await res.clone().text()).toBe(200);
          return (await res.json()) as { confirmedCursor: number; completedActions: number };
        };
        expect(await confirm(0)).toEqual({ confirmedCursor: batch.cursor, completedActions: 0 });
        const half = await getAction(svc, token, created.id);
        expect(half.status).toBe('Running');
        expect(half.completedDateTime).toBeNull();
        expect(await confirm(1)).toEqual({ confirmedCursor: batch.cursor, completedActions: 1 });
        const done = await getAction(svc, token, created.id);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to fw-agents'],
          ['Running', `published to fw-agents's change stream; waiting for 2 agent(s) to confirm`],
          ['Running', `agent fw-1 of fw-agents applied the change stream through cursor ${batch.cursor}`],
          ['Running', `agent fw-2 of fw-agents applied the change stream through cursor ${batch.cursor}`],
          ['Completed', 'enforced: confirmed by all 2 agent(s) of fw-agents'],
        ]);
        expectConsistentHistory(done);
      });
    });

    describe('routing', () => {
      it('vendorInformation.provider picks the provider case-insensitively and records its canonical name; absent → the default', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        for (const [asked, canonical] of [['FEEDS', 'feeds'], ['edge-HOOK', 'Edge-Hook'], [undefined, 'feeds']] as const) {
          const a = await create(svc, token, blockIp(randomIp(), asked === undefined ? {} : { provider: asked }));
          expect(a.vendorInformation.provider, `asked ${asked}`).toBe(canonical);
          const done = await waitForAction(svc, token, a.id, 'ended', ended);
          expect(done.vendorInformation.provider).toBe(canonical);
          expect(done.states[1]!.reason).toBe(`dispatched to ${canonical}`);
        }
      });

      it('an unknown or disabled provider answers 400 "Cannot find a provider for this request" naming the available ones; nothing is stored', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        for (const name of ['nope', 'legacy', 'LEGACY']) {
          const message = await expect400(svc, token, blockIp(randomIp(), { provider: name }), 'Cannot find a provider for this request', `provider '${name}'`);
          // The available ones are named; the disabled one is not among them.
          expect(message).toMatch(/Available providers: feeds, Edge-Hook, fw-agents\.$/);
        }
        expect(await countFor(svc, token)).toBe(0);
      });

      it('a provider that cannot carry out the action answers 400 saying so; nothing is stored', async () => {
        const token = await svc.token({ tenant: svc.newTenant() });
        await expect400(svc, token, blockDomain('evil.example', 'fw-agents'), "Provider 'fw-agents' cannot carry out 'BlockDomain'", 'BlockIp');
        expect(await countFor(svc, token)).toBe(0);
        // The same action on a provider that can: accepted.
        await create(svc, token, blockDomain('evil.example', 'feeds'));
        expect(await countFor(svc, token)).toBe(1);
      });
    });

    describe('guardrails', () => {
      const refused: [string, Record<string, unknown>, string][] = [
        ['the whole IPv4 space', blockIp('0.0.0.0/0'), '127.0.0.0/8 (loopback)'],
        ['the whole IPv6 space', blockIp('::/0'), '::1 (loopback)'],
        ['an IPv4 loopback address', blockIp('127.0.0.53'), '127.0.0.0/8 (loopback)'],
        ['the IPv6 loopback address', blockIp('::1'), '::1 (loopback)'],
        ['the unspecified address', blockIp('0.0.0.0'), '0.0.0.0 (unspecified address)'],
        ['an IPv4 link-local address', blockIp('169.254.10.10'), '169.254.0.0/16 (link-local)'],
        ['an IPv6 link-local range', blockIp('fe80::/64'), 'fe80::/10 (link-local)'],
        ['an IPv4 multicast address', blockIp('224.0.0.251'), '224.0.0.0/4 (multicast)'],
        ['an IPv6 multicast address', blockIp('ff02::1'), 'ff00::/8 (multicast)'],
        ['the broadcast address', blockIp('255.255.255.255'), '255.255.255.255 (broadcast)'],
        ['an address in a configured CIDR', blockIp('10.20.30.40'), '10.20.0.0/16 (core network)'],
        ['a range covering a configured CIDR', blockIp('10.0.0.0/8'), '10.20.0.0/16 (core network)'],
        ['a configured domain', blockDomain('intranet.corp.example'), 'intranet.corp.example (configured)'],
        ['a parent of a configured domain (its subdomain is protected)', blockDomain('corp.example'), 'intranet.corp.example (configured)'],
        ['a URL on a configured domain', { name: 'BlockUrl', parameters: [{ name: 'Url', value: 'https://intranet.corp.example/login' }] }, 'intranet.corp.example (configured)'],
      ];
      for (const [label, body, named] of refused) {
        it(`refuses ${label} with 400 naming ${named}; nothing is stored`, async () => {
          const token = await svc.token({ tenant: svc.newTenant() });
          await expect400(svc, token, body, `would block ${named}`, 'protected');
          expect(await countFor(svc, token)).toBe(0);
        });
      }

      it('lets neighbours of protected entries through', async () => {
        const tenant = svc.newTenant();
        const token = await svc.token({ tenant });
        for (const body of [blockIp('10.21.0.1'), blockIp('126.255.255.255'), blockDomain('other.corp.example'), blockDomain('intranet.corp.example.org')]) await create(svc, token, body);
        expect(await countFor(svc, token)).toBe(4);
      });
    });
  });

  describe(`guardrails: the service's own listen address (${backend.name})`, () => {
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    let svc: TestService | undefined;
    beforeAll(async () => {
      if (address) svc = await startTestService({ backend, overrides: { host: address } });
    });
    afterAll(async () => svc?.close());

    it.skipIf(!address)(`refuses to block the address the service listens on (${address ?? 'no non-loopback IPv4 interface on this machine'})`, async () => {
      const token = await svc!.token({ tenant: svc!.newTenant() });
      expect(svc!.url).toContain(address!);
      await expect400(svc!, token, blockIp(address!), `would block ${address} (the service's listen address)`);
      await expect400(svc!, token, blockIp(`${address}/24`), `would block ${address} (the service's listen address)`);
      expect(await countFor(svc!, token)).toBe(0);
    });
  });

  describe(`cancel before dispatch (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ backend, engine: false });
    });
    afterAll(async () => svc?.close());

    it('stays NotStarted with completedDateTime and cancelledDateTime set, and is never dispatched', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant, app: 'early' });
      const ip = randomIp();
      const created = await create(svc, token, blockIp(ip));
      expect(await jobCount(svc.service.database.db, tenant)).toBe(1);
      await cancel(svc, token, created.id);
      const cancelled = await getAction(svc, token, created.id);
      expect(cancelled.status).toBe('NotStarted');
      expect(cancelled.cancelledDateTime).not.toBeNull();
      expect(cancelled.completedDateTime).toBe(cancelled.cancelledDateTime);
      expect(history(cancelled)).toEqual([
        ['NotStarted', 'created'],
        ['NotStarted', 'cancelled before dispatch; nothing was sent to a provider'],
      ]);
      expect(cancelled.states[1]!.appId).toBe('early');
      expectConsistentHistory(cancelled, { cancelClockSkewMs: 50 });
      expect(await jobCount(svc.service.database.db, tenant)).toBe(0);

      // Now let an engine run: a canary created after the cancel completes, the cancelled one stays as it was.
      const engine = startEngine(svc, { pollIntervalMs: 50 });
      try {
        const canary = await create(svc, token, blockIp(randomIp()));
        await waitForAction(svc, token, canary.id, 'completed', ended);
        const after: ActionJson = await getAction(svc, token, created.id);
        expect(after).toEqual(cancelled);
        const lines = await feedLines(svc, tenant, await feedToken(svc, tenant));
        expect(lines).not.toContain(ip);
        expect([...(await ledgerCounts(svc.service.database.db, tenant)).keys()]).not.toContain(ip);
        await waitFor('no jobs left', async () => (await jobCount(svc.service.database.db, tenant)) === 0);
      } finally {
        await engine.stop();
      }
    });

    it('cancel records one time: the cancel state, cancelledDateTime, lastActionDateTime and completedDateTime agree', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      // Several tries: the two clock reads usually fall in the same millisecond.
      for (let i = 0; i < 20; i++) {
        const created = await create(svc, token, blockIp(randomIp()));
        await cancel(svc, token, created.id);
        const a = await getAction(svc, token, created.id);
        const t = a.states.at(-1)!.updatedDateTime;
        expect({ state: t, cancelled: a.cancelledDateTime, lastAction: a.lastActionDateTime, completed: a.completedDateTime }).toEqual({ state: t, cancelled: t, lastAction: t, completed: t });
      }
    });
  });
}
