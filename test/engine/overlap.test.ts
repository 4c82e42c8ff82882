import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import {
  blockIp, cancel, create, ended, startEngine, expectConsistentHistory, feedLines, feedToken, getAction, history, ledgerCounts, ms, waitFor, waitForAction,
  withdrawalEnded, jobCount, type ActionJson,
} from './support.js';

const ip = '203.0.113.7';

for (const backend of backends()) {
  describe(`overlapping blocks are counted per tenant and provider (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({
        backend,
        overrides: { providers: [{ type: 'feeds', provider: 'feeds' }, { type: 'feeds', provider: 'feeds-b' }] },
      });
    });
    afterAll(async () => svc?.close());

    async function tenantWithFeed() {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const feed = await feedToken(svc, tenant);
      return { tenant, token, lines: (provider?: string) => feedLines(svc, provider ? `${tenant}/${provider}` : tenant, feed) };
    }
    const completed = (token: string, a: ActionJson) => waitForAction(svc, token, a.id, 'completed', ended);
    const refcount = async (tenant: string, provider = 'feeds') => (await ledgerCounts(svc.service.database.db, tenant, provider)).get(ip)?.refcount ?? 0;

    it(`two BlockIp ${ip}: cancel one → still listed; cancel both → gone; another tenant's block is untouched`, async () => {
      const a = await tenantWithFeed();
      const b = await tenantWithFeed();
      const first = await completed(a.token, await create(svc, a.token, blockIp(ip)));
      const second = await completed(a.token, await create(svc, a.token, blockIp(ip)));
      const other = await completed(b.token, await create(svc, b.token, blockIp(ip)));
      expect(first.states.at(-1)!.reason).toBe(`published by feeds: ${ip} is blocked`);
      expect(second.states.at(-1)!.reason).toBe(`published by feeds: ${ip} is blocked (also covered by 1 other active action)`);
      // Tenant B's block does not see tenant A's.
      expect(other.states.at(-1)!.reason).toBe(`published by feeds: ${ip} is blocked`);
      expect(await a.lines()).toEqual([ip]);
      expect(await b.lines()).toEqual([ip]);
      expect([await refcount(a.tenant), await refcount(b.tenant)]).toEqual([2, 1]);

      await cancel(svc, a.token, first.id);
      const firstDone = await waitForAction(svc, a.token, first.id, 'withdrawn', withdrawalEnded);
      expect(history(firstDone).slice(3)).toEqual([
        ['Running', 'cancel requested; withdrawing'],
        ['Completed', `withdrawn from feeds; ${ip} stays blocked by 1 other active action`],
      ]);
      expectConsistentHistory(firstDone, { cancelClockSkewMs: 50 });
      expect(await a.lines()).toEqual([ip]);
      expect(await refcount(a.tenant)).toBe(1);
      expect((await getAction(svc, a.token, second.id)).states).toEqual(second.states);

      await cancel(svc, a.token, second.id);
      const secondDone = await waitForAction(svc, a.token, second.id, 'withdrawn', withdrawalEnded);
      expect(history(secondDone).slice(3)).toEqual([
        ['Running', 'cancel requested; withdrawing'],
        ['Completed', 'withdrawn from feeds'],
      ]);
      expect(await a.lines()).toEqual([]);
      expect(await refcount(a.tenant)).toBe(0);

      expect(await b.lines()).toEqual([ip]);
      expect(await refcount(b.tenant)).toBe(1);
      expect((await getAction(svc, b.token, other.id)).states).toEqual(other.states);
    });

    it('the same indicator at two providers of one tenant is counted separately', async () => {
      const a = await tenantWithFeed();
      const onA = await completed(a.token, await create(svc, a.token, blockIp(ip)));
      const onB = await completed(a.token, await create(svc, a.token, blockIp(ip, { provider: 'feeds-b' })));
      expect(onB.states.at(-1)!.reason).toBe(`published by feeds-b: ${ip} is blocked`);
      expect([await refcount(a.tenant), await refcount(a.tenant, 'feeds-b')]).toEqual([1, 1]);
      await cancel(svc, a.token, onA.id);
      const done = await waitForAction(svc, a.token, onA.id, 'withdrawn', withdrawalEnded);
      expect(done.states.at(-1)!.reason).toBe('withdrawn from feeds');
      expect(await a.lines()).toEqual([]);
      expect(await a.lines('feeds-b')).toEqual([ip]);
      expect(await refcount(a.tenant, 'feeds-b')).toBe(1);
    });

    it('expiry of the shorter of two overlapping actions keeps the longer in force (Duration and ExpirationDateTime alike)', async () => {
      // Both scenarios at once: each waits for a 2 s expiry.
      const scenarios = [
        { label: 'Duration PT2S under Duration PT1H', short: { duration: 'PT2S' }, long: { duration: 'PT1H' } },
        { label: 'ExpirationDateTime +2 s under a block without expiry', short: { expiration: new Date(Date.now() + 2000).toISOString() }, long: {} },
      ];
      await Promise.all(
        scenarios.map(async ({ label, short, long }) => {
          const a = await tenantWithFeed();
          const longer = await completed(a.token, await create(svc, a.token, blockIp(ip, long)));
          const shorter = await completed(a.token, await create(svc, a.token, blockIp(ip, short)));
          const longExpiry = longer.expirationDateTime === null ? null : ms(longer.expirationDateTime);
          // The published entry lasts as long as the longest covering action.
          expect((await ledgerCounts(svc.service.database.db, a.tenant)).get(ip), label).toEqual({ refcount: 2, expiresAt: longExpiry });
          expect(ms(shorter.expirationDateTime), label).toBeLessThan(longExpiry ?? Infinity);

          const expired = await waitForAction(svc, a.token, shorter.id, `${label}: expired`, withdrawalEnded, 10_000);
          expect(history(expired).slice(3), label).toEqual([
            ['Running', `expired at ${shorter.expirationDateTime}; withdrawing`],
            ['Completed', `withdrawn from feeds; ${ip} stays blocked by 1 other active action`],
          ]);
          expect(expired.cancelledDateTime).toBeNull();
          expectConsistentHistory(expired);
          expect(await a.lines(), label).toEqual([ip]);
          expect((await ledgerCounts(svc.service.database.db, a.tenant)).get(ip), label).toEqual({ refcount: 1, expiresAt: longExpiry });
          const still = await getAction(svc, a.token, longer.id);
          expect(still.status, label).toBe('Completed');
          expect(still.states, label).toEqual(longer.states);
        }),
      );
    });

    it('ExpirationDateTime alone withdraws the block like Duration does', async () => {
      const a = await tenantWithFeed();
      const at = new Date(Date.now() + 1500).toISOString();
      const created = await create(svc, a.token, blockIp(ip, { expiration: at }));
      expect(created.expirationDateTime).toBe(at);
      expect(created.parameters).toContainEqual({ name: 'ExpirationDateTime', value: at });
      await completed(a.token, created);
      expect(await a.lines()).toEqual([ip]);
      const done = await waitForAction(svc, a.token, created.id, 'expired', withdrawalEnded, 10_000);
      expect(history(done).slice(3)).toEqual([
        ['Running', `expired at ${at}; withdrawing`],
        ['Completed', 'withdrawn from feeds'],
      ]);
      expect(await a.lines()).toEqual([]);
      await waitFor('ledger entry gone', async () => (await refcount(a.tenant)) === 0);
    });
  });

  describe(`steps that land in one engine batch count as they would one at a time (${backend.name})`, () => {
    let svc: TestService;
    beforeAll(async () => {
      svc = await startTestService({ backend, engine: false });
    });
    afterAll(async () => svc?.close());

    it('an apply and a withdrawal on the same indicator, and an apply on a new one, in one batch', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const feed = await feedToken(svc, tenant);
      const lines = () => feedLines(svc, tenant, feed);
      const hour = 3_600_000;
      const later = new Date(Date.now() + 2 * hour).toISOString();
      const sooner = new Date(Date.now() + hour).toISOString();
      const first = startEngine(svc);
      const longer = await waitForAction(svc, token, (await create(svc, token, blockIp(ip, { expiration: later }))).id, 'completed', ended);
      await first.stop();
      expect((await ledgerCounts(svc.service.database.db, tenant)).get(ip)).toEqual({ refcount: 1, expiresAt: ms(later) });

      // With no engine running these queue up, and the next engine takes them in one batch: the apply
      // of `shorter`, then the withdrawal of `longer` (its job is newer), and the apply of `fresh`.
      const shorter = await create(svc, token, blockIp(ip, { expiration: sooner }));
      await cancel(svc, token, longer.id);
      const fresh = await create(svc, token, blockIp('203.0.113.99'));
      const second = startEngine(svc);
      try {
        const shorterDone = await waitForAction(svc, token, shorter.id, 'completed', ended);
        const longerDone = await waitForAction(svc, token, longer.id, 'withdrawn', withdrawalEnded);
        const freshDone = await waitForAction(svc, token, fresh.id, 'completed', ended);
        expect(shorterDone.states.at(-1)!.reason).toBe(`published by feeds: ${ip} is blocked (also covered by 1 other active action)`);
        expect(longerDone.states.at(-1)!.reason).toBe(`withdrawn from feeds; ${ip} stays blocked by 1 other active action`);
        expect(freshDone.states.at(-1)!.reason).toBe('published by feeds: 203.0.113.99 is blocked');
        // One batch: its steps share one clock reading.
        expect(new Set([shorterDone, longerDone, freshDone].map((a) => a.states.at(-1)!.updatedDateTime)).size).toBe(1);
        // The entry now lasts as long as the action still covering it, not longer and not forever.
        expect(new Map(await ledgerCounts(svc.service.database.db, tenant))).toEqual(new Map([
          [ip, { refcount: 1, expiresAt: ms(sooner) }],
          ['203.0.113.99', { refcount: 1, expiresAt: null }],
        ]));
        expect((await lines()).sort()).toEqual([ip, '203.0.113.99']);
        expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
      } finally {
        await second.stop();
      }
    });
  });
}
