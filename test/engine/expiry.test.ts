import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import {
  blockIp, collection, create, ended, expectConsistentHistory, feedToken, getAction, history, jobCount, ledgerCounts, ms, startReceiver, waitFor, waitForAction,
  withdrawalEnded, type ActionJson,
} from './support.js';

/** The bound (§6): an expired action is withdrawn within a second of its expiry. */
const boundMs = 1000;
const secret = 'expiry-webhook-secret-0123456789';

/**
 * Polls a tenant's ip.txt until none of `ips` is listed. Returns when a poll that was sent last
 * still saw one of them listed (`lastListedSentAt`, or -Infinity): the server answered that poll
 * after it was sent, so the entries were still published then. A test process slowed down by the
 * rest of the suite receives answers late, so the time an answer arrives is not the feed's time.
 * Polls every 50 ms: the service runs in this process, and faster polling competes with its engine.
 */
async function feedCleared(svc: TestService, tenant: string, token: string, ips: string[], timeoutMs: number): Promise<{ lastListedSentAt: number; seenClearAt: number }> {
  let lastListedSentAt = -Infinity;
  const seenClearAt = await waitFor(`ip.txt of ${tenant} to drop ${ips.length} entries`, async () => {
    const sentAt = Date.now();
    const res = await fetch(`${svc.url}/feeds/${tenant}/ip.txt`, { headers: { authorization: `Bearer ${token}` } });
    const listed = new Set((await res.text()).split('\n'));
    expect(res.status).toBe(200);
    if (!ips.some((ip) => listed.has(ip))) return Date.now();
    lastListedSentAt = sentAt;
    return undefined;
  }, timeoutMs, 50);
  return { lastListedSentAt, seenClearAt };
}

const withdrawalTime = (a: ActionJson) => ms(a.states.at(-1)!.updatedDateTime);

for (const backend of backends()) {
  describe(`expiry is enforced on time (${backend.name})`, () => {
    let svc: TestService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    beforeAll(async () => {
      receiver = await startReceiver(secret);
      svc = await startTestService({
        backend,
        overrides: { providers: [{ type: 'feeds', provider: 'feeds' }, { type: 'webhook', provider: 'hook', endpoint: receiver.url, secret }] },
      });
    });
    afterAll(async () => {
      await svc?.close();
      await receiver?.close();
    });

    it(`Duration PT2S: withdrawn, and gone from ip.txt, within ${boundMs} ms of expirationDateTime`, async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const feed = await feedToken(svc, tenant);
      const ip = '192.0.2.77';
      const created = await create(svc, token, blockIp(ip, { duration: 'PT2S' }));
      const expiresAt = ms(created.expirationDateTime);
      expect(expiresAt).toBe(ms(created.createdDateTime) + 2000);
      await waitForAction(svc, token, created.id, 'completed', ended);
      const feedSeen = await feedCleared(svc, tenant, feed, [ip], 10_000);
      const done = await waitForAction(svc, token, created.id, 'withdrawn', withdrawalEnded);
      expect(history(done).slice(3)).toEqual([
        ['Running', `expired at ${created.expirationDateTime}; withdrawing`],
        ['Completed', 'withdrawn from feeds'],
      ]);
      expectConsistentHistory(done);
      const stateMs = withdrawalTime(done) - expiresAt;
      console.log(`[expiry ${backend.name}] one action: withdrawal state ${stateMs} ms after expirationDateTime; feed last seen listed by a poll sent ${feedSeen.lastListedSentAt - expiresAt} ms, seen clear ${feedSeen.seenClearAt - expiresAt} ms after it`);
      // Never early, never later than the bound: the feed still lists it at expiry, and no poll
      // sent a second after expiry finds it listed.
      expect(ms(done.states[3]!.updatedDateTime)).toBeGreaterThanOrEqual(expiresAt);
      expect(stateMs).toBeLessThanOrEqual(boundMs);
      expect(feedSeen.seenClearAt).toBeGreaterThanOrEqual(expiresAt);
      expect(feedSeen.lastListedSentAt - expiresAt).toBeLessThan(boundMs);
    });

    it(`Duration PT2S on a webhook: the unblock is delivered within ${boundMs} ms of expirationDateTime`, async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      const created = await create(svc, token, blockIp('192.0.2.78', { provider: 'hook', duration: 'PT2S' }));
      const expiresAt = ms(created.expirationDateTime);
      const unblock = await waitFor('the unblock delivery', async () => receiver.byKey(`${created.id}:unblock`)[0], 10_000);
      const done = await waitForAction(svc, token, created.id, 'withdrawn', withdrawalEnded);
      expect(done.states.at(-1)).toMatchObject({ status: 'Completed', reason: 'unblock delivered to hook (webhook answered 200)' });
      expect(unblock.signatureValid).toBe(true);
      console.log(`[expiry ${backend.name}] webhook: unblock delivered ${unblock.at - expiresAt} ms, withdrawal state ${withdrawalTime(done) - expiresAt} ms after expirationDateTime`);
      expect(unblock.at).toBeGreaterThanOrEqual(expiresAt);
      expect(unblock.at - expiresAt).toBeLessThanOrEqual(boundMs);
      expect(withdrawalTime(done) - expiresAt).toBeLessThanOrEqual(boundMs);
    });

    it('many actions expiring at the same instant are all withdrawn, each within the bound', async () => {
      const n = 50;
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const feed = await feedToken(svc, tenant);
      const keeper = await create(svc, token, blockIp('198.19.200.1'));
      const at = new Date(Date.now() + 3000).toISOString();
      const ips = Array.from({ length: n }, (_, i) => `198.19.${i >> 8}.${(i & 255) + 1}`);
      const created: ActionJson[] = [];
      for (let i = 0; i < n; i += 25) created.push(...(await Promise.all(ips.slice(i, i + 25).map((ip) => create(svc, token, blockIp(ip, { expiration: at }))))));
      const expiresAt = ms(at);
      expect(Date.now(), 'creating took too long for the scenario').toBeLessThan(expiresAt - 200);
      // One list request per poll (not one per action), so watching does not slow the engine down.
      const all = async () => {
        const res = await svc.fetch(`${collection}?$top=1000`, { token });
        expect(res.status).toBe(200);
        const byId = new Map(((await res.json()) as { value: ActionJson[] }).value.map((a) => [a.id, a]));
        return created.map((a) => byId.get(a.id)!);
      };
      await waitFor('all to complete', async () => (await all()).every(ended), 10_000, 50);
      const feedSeen = await feedCleared(svc, tenant, feed, ips, 20_000);
      const done = await waitFor('all to be withdrawn', async () => {
        const now = await all();
        return now.every(withdrawalEnded) ? now : undefined;
      }, 20_000, 50);
      const lags = done.map((a) => withdrawalTime(a) - expiresAt).sort((x, y) => x - y);
      console.log(`[expiry ${backend.name}] ${n} at once: withdrawal states ${lags[0]}..${lags.at(-1)} ms (median ${lags[n >> 1]}), feed last seen listed by a poll sent ${feedSeen.lastListedSentAt - expiresAt} ms after expiry`);
      for (const a of done) {
        expect(history(a).slice(3)).toEqual([
          ['Running', `expired at ${at}; withdrawing`],
          ['Completed', 'withdrawn from feeds'],
        ]);
      }
      expect(lags[0]).toBeGreaterThanOrEqual(0);
      expect(lags.at(-1)).toBeLessThanOrEqual(boundMs);
      expect(feedSeen.lastListedSentAt - expiresAt).toBeLessThan(boundMs);
      expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
      // Nothing else was touched: the tenant's block without expiry is still in force.
      expect([...(await ledgerCounts(svc.service.database.db, tenant)).keys()]).toEqual(['198.19.200.1']);
      const kept = await getAction(svc, token, keeper.id);
      expect(history(kept)).toEqual([
        ['NotStarted', 'created'],
        ['Running', 'dispatched to feeds'],
        ['Completed', 'published by feeds: 198.19.200.1 is blocked'],
      ]);
    });
  });
}
