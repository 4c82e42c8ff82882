import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/engine/backoff.js';
import { createSqlEngineStore } from '../../src/storage/sql/engine-store.js';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import {
  blockIp, cancel, create, ended, expectConsistentHistory, getAction, history, jobCount, ledgerCounts, ms, randomIp, sleep, startEngine, startReceiver,
  waitFor, waitForAction, withdrawalEnded, type Delivery,
} from './support.js';

const secret = 'retries-webhook-secret-0123456789';
const base = 100;
const maxAttempts = 5;
const timeoutMs = 300;

describe('backoffDelay', () => {
  it('doubles per attempt, with equal jitter: half fixed, half random, capped at the maximum', () => {
    for (const [attempt, exp] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1600]] as const) {
      expect(backoffDelay(attempt, 100, 60_000, () => 0)).toBe(exp / 2);
      expect(backoffDelay(attempt, 100, 60_000, () => 0.999999)).toBe(exp);
      expect(backoffDelay(attempt, 100, 60_000, () => 0.5)).toBe((exp * 3) / 4);
    }
    expect(backoffDelay(30, 100, 5000, () => 1)).toBe(5000);
    expect(backoffDelay(30, 100, 5000, () => 0)).toBe(2500);
    expect(backoffDelay(0, 100, 5000, () => 0)).toBe(50);
  });
});

for (const backend of backends()) {
  describe(`retries and leases (${backend.name})`, () => {
    let svc: TestService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    /** per action IP: what each successive delivery of its block answers ('timeout' = answer too late) */
    const scripts = new Map<string, (number | 'timeout')[]>();

    beforeAll(async () => {
      receiver = await startReceiver(secret, async (d: Delivery, nth) => {
        const script = scripts.get(d.body?.indicator?.value) ?? [];
        const answer = script[nth - 1] ?? 200;
        if (answer === 'timeout') {
          await sleep(timeoutMs * 3);
          return 503;
        }
        return answer;
      });
      svc = await startTestService({
        backend,
        overrides: {
          providers: [
            { type: 'feeds', provider: 'feeds' },
            { type: 'webhook', provider: 'hook', endpoint: receiver.url, secret, timeoutMs },
          ],
          // The default poll interval (1 s) stays: retries must run on their own schedule, not the poll's.
          engine: { backoffBaseMs: base, backoffMaxMs: 60_000, maxAttempts },
        },
      });
    });
    afterAll(async () => {
      await svc?.close();
      await receiver?.close();
    });

    it('retries transient failures with exponential backoff and jitter, with a stable idempotency key, then completes', async () => {
      const token = await svc.token({ tenant: svc.newTenant() });
      // Warm the delivery path (first HTTP connection, JIT) so it does not count as backoff.
      await waitForAction(svc, token, (await create(svc, token, blockIp(randomIp(), { provider: 'hook' }))).id, 'completed', ended);
      const delaysByAttempt: number[][] = [[], [], []];
      const observed: number[][] = [];
      // One action at a time: nothing else wakes the engine, so each retry runs on its own timer.
      for (let n = 0; n < 3; n++) {
        const ip = randomIp();
        scripts.set(ip, [503, 502, 'timeout', 200]);
        const created = await create(svc, token, blockIp(ip, { provider: 'hook' }));
        const a = await waitForAction(svc, token, created.id, 'completed', ended, 15_000);
        expect(history(a)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to hook'],
          ['Completed', 'block delivered to hook (webhook answered 200)'],
        ]);
        expectConsistentHistory(a);
        const ds = receiver.byKey(`${a.id}:block`);
        expect(ds.map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
        expect(ds.every((d) => d.signatureValid && d.body.indicator.value === ip && d.event === 'block')).toBe(true);
        const gaps = ds.slice(1).map((d, k) => d.at - ds[k]!.at);
        observed.push(gaps);
        // The wait after attempt k is backoffDelay(k) ∈ [base·2^(k-1)/2, base·2^(k-1)], counted from
        // the end of the attempt (the timed-out third attempt itself lasts `timeoutMs`).
        const spent = [0, 0, timeoutMs];
        for (const [k, gap] of gaps.entries()) {
          const exp = base * 2 ** k;
          const delay = gap - spent[k]!;
          expect(delay, `gaps ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(exp / 2 - 2);
          // Well below the 1 s poll interval: the engine wakes for a retry when it falls due.
          expect(delay, `gaps ${JSON.stringify(gaps)}`).toBeLessThanOrEqual(exp + 250);
          delaysByAttempt[k]!.push(delay);
        }
        // Exponential: the wait after attempt 3 exceeds any possible wait after attempt 1.
        expect(gaps[2]! - spent[2]!).toBeGreaterThan(gaps[0]!);
      }
      console.log(`[retries ${backend.name}] gaps between attempts (ms), per action: ${JSON.stringify(observed)}`);
      // Jitter: the same attempt of different actions waits different times.
      for (const delays of delaysByAttempt) expect(new Set(delays).size, JSON.stringify(observed)).toBeGreaterThan(1);
    });

    it(`after ${maxAttempts} attempts the action is Failed with the last error`, async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const ip = randomIp();
      scripts.set(ip, [503, 500, 503, 503, 'timeout', 200]);
      const a = await create(svc, token, blockIp(ip, { provider: 'hook' }));
      const failed = await waitForAction(svc, token, a.id, 'failed', ended, 15_000);
      expect(failed.status).toBe('Failed');
      const message = `gave up after ${maxAttempts} attempts: webhook timed out after ${timeoutMs} ms`;
      expect(failed.errorInfo).toEqual({ code: 0, subcode: 0, message });
      expect(history(failed)).toEqual([
        ['NotStarted', 'created'],
        ['Running', 'dispatched to hook'],
        ['Failed', `hook: ${message}`],
      ]);
      expectConsistentHistory(failed);
      expect(receiver.byKey(`${a.id}:block`).map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
      // A block that never took effect does not count as active, and no work is left (so nothing
      // more is sent).
      expect((await ledgerCounts(svc.service.database.db, tenant, 'hook')).size).toBe(0);
      expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
    });
  });

  describe(`a job whose worker died holding its lease (${backend.name})`, () => {
    let svc: TestService;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    beforeAll(async () => {
      receiver = await startReceiver(secret);
      svc = await startTestService({
        backend,
        engine: false,
        overrides: { providers: [{ type: 'feeds', provider: 'feeds' }, { type: 'webhook', provider: 'hook', endpoint: receiver.url, secret }] },
      });
    });
    afterAll(async () => {
      await svc?.close();
      await receiver?.close();
    });

    const leaseMs = 1500;

    /** Creates an action and lets a worker that will never come back claim its job. */
    async function claimedByDeadWorker(tenant: string, token: string, ip: string, provider = 'feeds') {
      const { db, caps, notifier } = svc.service.database;
      const a = await create(svc, token, blockIp(ip, { provider }));
      const claimedAt = Date.now();
      const jobs = await createSqlEngineStore({ db, caps, notifier }).claim('dead-worker', claimedAt, leaseMs, 1000);
      const mine = jobs.filter((j) => j.tenantId === tenant);
      expect(mine).toHaveLength(1);
      expect(mine[0]).toMatchObject({ kind: 'apply', provider, attempts: 1 });
      return { action: a, leaseUntil: claimedAt + leaseMs };
    }

    it('a heartbeat renews only its own leases, and skips a job another transaction holds instead of waiting for it', async () => {
      const { db, caps, notifier } = svc.service.database;
      const store = createSqlEngineStore({ db, caps, notifier });
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      for (const ip of [randomIp(), randomIp()]) await create(svc, token, blockIp(ip));
      const claimedAt = Date.now();
      const ids = (await store.claim('worker-a', claimedAt, 60_000, 1000)).filter((j) => j.tenantId === tenant).map((j) => j.id);
      expect(ids).toHaveLength(2);
      const leases = async () => (await sql<{ lease_until: number | string }>`select lease_until from jobs where id in (${sql.join(ids)}) order by id`.execute(db)).rows.map((r) => Number(r.lease_until));
      const initial = await leases();
      expect(await store.renewLeases('worker-b', ids, claimedAt + 120_000)).toBe(0);
      expect(await leases()).toEqual(initial);
      expect(await store.renewLeases('worker-a', ids, claimedAt + 120_000)).toBe(2);
      expect(await leases()).toEqual([claimedAt + 120_000, claimedAt + 120_000]);
      if (!caps.skipLocked) return void (await store.releaseLeases('worker-a')); // SQLite serialises writers: no row to wait on
      // Another transaction holds the first job (as a worker that took it over would): the renewal
      // answers at once, renewing the other one, instead of queueing behind that transaction.
      await db.transaction().execute(async (trx) => {
        await sql`select id from jobs where id = ${ids[0]} for update`.execute(trx);
        const renewed = await Promise.race([store.renewLeases('worker-a', ids, claimedAt + 180_000), sleep(5000).then(() => 'waited' as const)]);
        expect(renewed).toBe(1);
      });
      expect(await leases()).toEqual([claimedAt + 120_000, claimedAt + 180_000]);
      await store.releaseLeases('worker-a'); // the claim may have taken other tests' due jobs too
    });

    it('a step renews the lease of a job it keeps as its last write, so nobody takes the job over while what follows the step (a delivery) runs', async () => {
      const { db, caps, notifier } = svc.service.database;
      const store = createSqlEngineStore({ db, caps, notifier });
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      await create(svc, token, blockIp(randomIp(), { provider: 'hook' }));
      const claimedAt = Date.now();
      const [job] = (await store.claim('worker-a', claimedAt, 1000, 1000)).filter((j) => j.tenantId === tenant);
      expect(job).toBeDefined();
      const mine = async (owner: string, at: number) => (await store.claim(owner, at, 1000, 1000)).filter((j) => j.tenantId === tenant);
      // The step starts late in the lease (it waited for a connection) and takes 1.5 s (it waited
      // for locks) before it keeps the job for its delivery: the lease runs from the step's end.
      let clock = claimedAt + 800;
      const leaseUntil = () => clock + 1000;
      expect(await store.runJob(job!, { owner: 'worker-a', until: leaseUntil }, clock, async () => {
        clock += 1500;
        return { kind: 'keep', payload: {} };
      })).toBe('done');
      const stepEnd = clock;
      // After the claim's lease, and after a lease counted from the step's start, another worker finds nothing…
      expect(await mine('worker-b', claimedAt + 800 + 1001)).toEqual([]);
      expect(await mine('worker-b', stepEnd + 999)).toEqual([]);
      // …and once the lease from the step's end has run out, it may take the job.
      expect((await mine('worker-b', stepEnd + 1001)).map((j) => j.id)).toEqual([job!.id]);
      // The first worker's next step is fenced off.
      expect(await store.runJob(job!, { owner: 'worker-a', until: () => stepEnd + 5000 }, stepEnd + 1100, async () => ({ kind: 'finish' }))).toBe('lost');
      await store.releaseLeases('worker-b');
    });

    it('is re-claimed by a live engine after the lease expires and completes, dispatched once', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const ip = randomIp();
      const { action, leaseUntil } = await claimedByDeadWorker(tenant, token, ip);
      const engine = startEngine(svc, { pollIntervalMs: 100, leaseMs });
      try {
        // While the dead worker's lease is valid, nobody touches the action.
        while (Date.now() < leaseUntil - 150) {
          const a = await getAction(svc, token, action.id);
          expect(a.status, 'taken over before the lease expired').toBe('NotStarted');
          await sleep(50);
        }
        const done = await waitForAction(svc, token, action.id, 'completed', ended, 10_000);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to feeds'],
          ['Completed', `published by feeds: ${ip} is blocked`],
        ]);
        expect(ms(done.states[1]!.updatedDateTime)).toBeGreaterThan(leaseUntil);
        expectConsistentHistory(done);
        expect((await ledgerCounts(svc.service.database.db, tenant)).get(ip)?.refcount).toBe(1);
        expect(await jobCount(svc.service.database.db, tenant)).toBe(0);
      } finally {
        await engine.stop();
      }
    });

    it('a cancel while the dead worker holds a feeds apply ends at once with nothing in force; the apply never runs', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const ip = randomIp();
      const { action, leaseUntil } = await claimedByDeadWorker(tenant, token, ip);
      const engine = startEngine(svc, { pollIntervalMs: 100, leaseMs });
      try {
        await cancel(svc, token, action.id);
        const done = await waitForAction(svc, token, action.id, 'withdrawn', withdrawalEnded, 10_000);
        const expected = [
          ['NotStarted', 'created'],
          ['Running', 'cancel requested; withdrawing'],
          ['Completed', 'nothing was in force at feeds'],
        ];
        expect(history(done)).toEqual(expected);
        // The apply runs in one transaction on the locked action and sees the cancel, so the
        // withdrawal need not wait for the dead worker's lease.
        expect(ms(done.completedDateTime)).toBeLessThan(leaseUntil);
        expectConsistentHistory(done, { cancelClockSkewMs: 50 });
        // After the lease, the engine takes the apply over and drops it without dispatching.
        await waitFor('the dead worker\'s job to be gone', async () => (await jobCount(svc.service.database.db, tenant)) === 0, 10_000);
        expect(Date.now()).toBeGreaterThan(leaseUntil);
        expect(await getAction(svc, token, action.id)).toEqual(done);
        expect((await ledgerCounts(svc.service.database.db, tenant)).size).toBe(0);
      } finally {
        await engine.stop();
      }
    });

    it('a delivery that outlives the lease is not started a second time by the engine that holds it', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const ip = randomIp();
      receiver.setResponder(async (d) => {
        if (d.body?.indicator?.value === ip) await sleep(1200);
        return 200;
      });
      // A lease much shorter than the delivery: the engine's own claims keep finding the job due.
      const engine = startEngine(svc, { pollIntervalMs: 50, leaseMs: 300 });
      try {
        const a = await create(svc, token, blockIp(ip, { provider: 'hook' }));
        const done = await waitForAction(svc, token, a.id, 'completed', ended, 10_000);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'dispatched to hook'],
          ['Completed', 'block delivered to hook (webhook answered 200)'],
        ]);
        expect(receiver.byKey(`${a.id}:block`)).toHaveLength(1);
      } finally {
        await engine.stop();
        receiver.setResponder(() => 200);
      }
    });

    it('a cancel while the dead worker holds a webhook apply waits for the lease, then ends without any delivery', async () => {
      const tenant = svc.newTenant();
      const token = await svc.token({ tenant });
      const ip = randomIp();
      const { action, leaseUntil } = await claimedByDeadWorker(tenant, token, ip, 'hook');
      const engine = startEngine(svc, { pollIntervalMs: 100, leaseMs });
      try {
        await cancel(svc, token, action.id);
        const done = await waitForAction(svc, token, action.id, 'withdrawn', withdrawalEnded, 10_000);
        expect(history(done)).toEqual([
          ['NotStarted', 'created'],
          ['Running', 'cancel requested; withdrawing'],
          ['Completed', 'nothing was in force at hook'],
        ]);
        expect(ms(done.completedDateTime)).toBeGreaterThan(leaseUntil);
        expectConsistentHistory(done, { cancelClockSkewMs: 50 });
        expect(receiver.deliveries.filter((d) => d.key.startsWith(action.id))).toEqual([]);
        expect((await ledgerCounts(svc.service.database.db, tenant, 'hook')).size).toBe(0);
        await waitFor('no jobs left', async () => (await jobCount(svc.service.database.db, tenant)) === 0);
      } finally {
        await engine.stop();
      }
    });
  });
}
