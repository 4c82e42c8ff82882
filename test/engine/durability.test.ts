import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { backends } from '../helpers/backends.js';
import { collection, cancelPath, blockIp, waitFor } from './support.js';
import { createRig, tryFetch, type ProcessRig } from './process-support.js';

/**
 * §4 of the issue: `kill -9` at any moment, restart on the same store — every acknowledged action
 * still reaches a terminal state and no provider applies the same change twice in a way anyone can
 * observe. Real `bulwark serve` processes, a slow idempotent webhook receiver, feeds read with a
 * feed credential, and the database checked directly afterwards.
 */

const total = 300;
/** feeds actions draw from a small pool of addresses, so many indicators are covered twice */
const feedsPool = Array.from({ length: 100 }, (_, i) => `198.18.7.${i + 1}`);
const engine = { leaseMs: 1500, pollIntervalMs: 100, backoffBaseMs: 50, backoffMaxMs: 1000, maxAttempts: 50, concurrency: 16 };

interface Plan {
  body: Record<string, unknown>;
  provider: 'feeds' | 'hook';
}

function makePlan(): Plan[] {
  return Array.from({ length: total }, (_, i) =>
    i % 2 === 0
      ? { provider: 'feeds' as const, body: blockIp(feedsPool[randomInt(feedsPool.length)]!) }
      : { provider: 'hook' as const, body: blockIp(`198.19.${i >> 7}.${(i & 127) + 1}`, { provider: 'hook' }) },
  );
}

/**
 * Sends `requests` with a few parallel clients until they are done or the process dies; when
 * `killAfter` is given, kills the process once that many requests were answered (plus a random
 * 0–30 ms, so the kill lands anywhere in a request or step). Returns the answers that arrived
 * (index → response) and the indexes that got none.
 */
async function sendUntilDead<T>(
  rig: ProcessRig,
  requests: T[],
  send: (r: T) => Promise<Response | undefined>,
  killAfter?: number,
): Promise<{ answered: Map<number, { status: number; body: string }>; unanswered: number[] }> {
  const answered = new Map<number, { status: number; body: string }>();
  const unanswered: number[] = [];
  let next = 0;
  let killing: Promise<unknown> | undefined;
  const client = async () => {
    while (next < requests.length) {
      const i = next++;
      const res = await send(requests[i]!);
      if (!res) {
        unanswered.push(i);
        continue;
      }
      answered.set(i, { status: res.status, body: await res.text() });
      if (killAfter !== undefined && answered.size >= killAfter && !killing) {
        killing = new Promise((r) => setTimeout(r, randomInt(31))).then(() => rig.proc!.kill9());
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  if (killAfter !== undefined) await (killing ?? rig.proc!.kill9());
  return { answered, unanswered };
}

for (const backend of backends()) {
  describe(`durability under kill -9 (${backend.name})`, () => {
    let rig: ProcessRig;
    let token: string;
    /** acknowledged actions: id → plan entry */
    const acked = new Map<string, Plan>();
    const log: string[] = [];

    beforeAll(async () => {
      // Slow enough that deliveries are in flight whenever the process is killed.
      rig = await createRig(backend, { engine, receiverDelayMs: () => 20 + randomInt(31) });
      await rig.start();
      token = await rig.token();
    }, 60_000);
    afterAll(async () => {
      if (log.length) console.log(`[durability ${backend.name}]\n  ${log.join('\n  ')}`);
      await rig?.close();
    });

    const post = (body: unknown) =>
      tryFetch(`${rig.url}${collection}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    /** Everything the store says about the tenant's actions. */
    async function actionsInStore() {
      const { db } = await rig.db();
      const rows = await db
        .selectFrom('actions')
        .select(['id', 'status', 'provider', 'indicator', 'states', 'completed_at', 'cancelled_at', 'applied_at', 'withdrawn_at'])
        .where('tenant_id', '=', rig.tenant)
        .execute();
      return rows.map((r) => ({ ...r, states: JSON.parse(r.states) as { status: string; reason: string | null }[] }));
    }

    async function waitForQuiet(what: string, done: (rows: Awaited<ReturnType<typeof actionsInStore>>) => boolean) {
      const started = Date.now();
      await waitFor(what, async () => {
        const rows = await actionsInStore();
        const { db } = await rig.db();
        const jobs = Number((await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
        return jobs === 0 && done(rows);
      }, 45_000, 100);
      return Date.now() - started;
    }

    /** ledger refcount = number of applied, not withdrawn actions, per provider and indicator; ip.txt = the feeds entries, once each. */
    async function expectLedgerMatchesActions() {
      const rows = await actionsInStore();
      const active = new Map<string, number>();
      for (const r of rows) {
        if (r.applied_at === null || r.withdrawn_at !== null) continue;
        const key = `${r.provider} ${r.indicator}`;
        active.set(key, (active.get(key) ?? 0) + 1);
      }
      const { db } = await rig.db();
      const ledger = await db.selectFrom('ledger').select(['provider', 'indicator', 'refcount']).where('tenant_id', '=', rig.tenant).execute();
      expect(new Map(ledger.map((l) => [`${l.provider} ${l.indicator}`, Number(l.refcount)]))).toEqual(active);

      const res = await fetch(`${rig.url}/feeds/${rig.tenant}/ip.txt`, { headers: { authorization: `Bearer ${rig.feedToken()}` } });
      const lines = (await res.text()).split('\n').filter(Boolean);
      expect(res.status).toBe(200);
      expect(lines.length, 'each indicator appears once in ip.txt').toBe(new Set(lines).size);
      const feedsActive = [...active.keys()].filter((k) => k.startsWith('feeds ')).map((k) => k.slice(6));
      expect([...lines].sort()).toEqual(feedsActive.sort());

      // The change stream (what feeds and agents consume) never repeats a change: per indicator
      // adds and removes alternate, starting with an add, and it ends added iff it is in the ledger.
      const changes = await db.selectFrom('changes').select(['provider', 'indicator', 'op', 'seq']).where('tenant_id', '=', rig.tenant).orderBy('seq').execute();
      const ops = new Map<string, string[]>();
      for (const c of changes) ops.set(`${c.provider} ${c.indicator}`, [...(ops.get(`${c.provider} ${c.indicator}`) ?? []), c.op]);
      for (const [key, list] of ops) {
        expect(list.every((op, i) => op === (i % 2 === 0 ? 'add' : 'remove')), `${key}: ${list.join(',')}`).toBe(true);
        expect(list.at(-1) === 'add', `${key}: ${list.join(',')}`).toBe(active.has(key));
      }
      expect(ops.size).toBeGreaterThanOrEqual(active.size);
      return { lines, active, ops };
    }

    /** Deliveries are signed, name a stored action, and repeat only with the same key and the same change. */
    function expectDeliveriesConsistent(ids: Set<string>) {
      const byKey = new Map<string, typeof rig.receiver.deliveries>();
      for (const d of rig.receiver.deliveries) {
        expect(d.signatureValid).toBe(true);
        expect(d.key).toBe(`${d.body.action.id}:${d.event}`);
        expect(ids.has(d.body.action.id), `delivery for unknown action ${d.body.action.id}`).toBe(true);
        byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
      }
      for (const [key, ds] of byKey) {
        const changes = new Set(ds.map((d) => JSON.stringify([d.event, d.body.sequence, d.body.indicator])));
        expect(changes.size, `deliveries of ${key} carry different changes`).toBe(1);
      }
      return byKey;
    }

    it(`${total} actions, feeds and webhook, with 3 kills at random moments: none lost, each applied once`, async () => {
      const started = Date.now();
      const plan = makePlan();
      let pending = plan.map((_, i) => i);
      // Kill 1 and 2 while actions are being posted, kill 3 right after the last one is acknowledged.
      for (const [round, killAfter] of [[1, 40 + randomInt(60)], [2, 40 + randomInt(60)], [3, undefined]] as const) {
        // Rounds 1 and 2 are cut short by the kill; round 3 posts the rest (resending anything a
        // stale connection lost), then the process is killed with its backlog in flight.
        for (let tries = 0; pending.length > 0 && tries < (killAfter === undefined ? 5 : 1); tries++) {
          const r = await sendUntilDead(rig, pending.map((i) => plan[i]!), (p) => post(p.body), killAfter);
          for (const [k, a] of r.answered) {
            expect(a.status, a.body).toBe(201);
            acked.set((JSON.parse(a.body) as { id: string }).id, plan[pending[k]!]!);
          }
          pending = r.unanswered.map((k) => pending[k]!);
        }
        if (round === 3) {
          expect(pending).toEqual([]);
          await rig.proc!.kill9();
        }
        const { db } = await rig.db();
        const backlog = Number((await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
        const leased = Number((await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n')).where('lease_owner', 'is not', null).executeTakeFirstOrThrow()).n);
        log.push(`kill ${round}${killAfter === undefined ? ' (after the last POST)' : ` (after ${killAfter} POSTs of round ${round} were answered)`}: ${acked.size} acknowledged so far, ${pending.length} unanswered, ${backlog} jobs left (${leased} leased by the dead process), ${rig.receiver.deliveries.length} deliveries`);
        await rig.start();
      }
      expect(acked.size).toBe(total);

      const settleMs = await waitForQuiet('every action to end', (rows) => rows.every((r) => r.completed_at !== null));
      const rows = await actionsInStore();
      log.push(`all ${rows.length} stored actions (${acked.size} acknowledged) ended ${settleMs} ms after the last restart; ${((Date.now() - started) / 1000).toFixed(1)} s in all`);

      // None lost: every acknowledged action is stored and Completed, with one dispatch and one completion.
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const [id, p] of acked) {
        const r = byId.get(id);
        expect(r, `acknowledged action ${id} is missing`).toBeDefined();
        expect(r!.status, JSON.stringify(r!.states)).toBe('Completed');
        expect(r!.provider).toBe(p.provider);
        const reasons = r!.states.map((s) => `${s.status} ${s.reason}`);
        expect(reasons[0]).toBe('NotStarted created');
        expect(reasons[1]).toBe(`Running dispatched to ${p.provider}`);
        expect(reasons.length, JSON.stringify(reasons)).toBe(3);
        expect(reasons[2]).toMatch(p.provider === 'feeds' ? /^Completed published by feeds: / : /^Completed block delivered to hook \(webhook answered 200\)$/);
      }
      // Stored but never acknowledged (the answer was lost in a kill) is fine, as long as it ended too.
      expect(rows.every((r) => r.status === 'Completed')).toBe(true);

      const { lines, ops } = await expectLedgerMatchesActions();
      expect(lines.length).toBeGreaterThan(0);
      // Before any cancel, each indicator was published exactly once, however often the process died.
      for (const [key, list] of ops) expect(list, key).toEqual(['add']);

      const byKey = expectDeliveriesConsistent(new Set(rows.map((r) => r.id)));
      const hookActions = rows.filter((r) => r.provider === 'hook');
      for (const r of hookActions) expect(byKey.get(`${r.id}:block`)?.length ?? 0, `block of ${r.id} delivered`).toBeGreaterThanOrEqual(1);
      const redelivered = [...byKey.values()].filter((ds) => ds.length > 1);
      log.push(`webhook: ${hookActions.length} actions, ${rig.receiver.deliveries.length} deliveries, ${redelivered.length} keys delivered more than once (${redelivered.reduce((n, ds) => n + ds.length - 1, 0)} redeliveries, all with the same key and change)`);
    }, 90_000);

    it('a cancel storm with 2 kills: every cancelled action is withdrawn, the rest stay in force', async () => {
      const rows = await actionsInStore();
      expect(rows.length).toBeGreaterThanOrEqual(total);
      const ids = rows.map((r) => r.id).sort(() => Math.random() - 0.5);
      const doomed = new Set(ids.slice(0, ids.length >> 1));
      let pending = [...doomed];
      const deliveriesBefore = rig.receiver.deliveries.length;
      for (const [round, killAfter] of [[1, 20 + randomInt(40)], [2, 20 + randomInt(40)], [3, undefined]] as const) {
        let answered = 0;
        for (let tries = 0; pending.length > 0 && tries < (killAfter === undefined ? 5 : 1); tries++) {
          const r = await sendUntilDead(rig, pending, (id) => tryFetch(`${rig.url}${cancelPath(id)}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }), killAfter);
          for (const a of r.answered.values()) expect(a.status, a.body).toBe(200);
          answered += r.answered.size;
          pending = r.unanswered.map((k) => pending[k]!);
        }
        log.push(`cancel round ${round}: ${answered} cancels answered, ${pending.length} unanswered${killAfter === undefined ? '' : `, killed after ${killAfter} answers`}`);
        if (round < 3) await rig.start();
      }
      expect(pending).toEqual([]);

      const settleMs = await waitForQuiet('every cancel to be withdrawn', (now) => now.every((r) => r.completed_at !== null));
      log.push(`cancel storm settled ${settleMs} ms after the last cancel`);
      const after = await actionsInStore();
      for (const r of after) {
        const reasons = r.states.map((s) => `${s.status} ${s.reason}`);
        expect(r.status, JSON.stringify(reasons)).toBe('Completed');
        if (!doomed.has(r.id)) {
          expect(r.cancelled_at).toBeNull();
          expect(r.withdrawn_at).toBeNull();
          expect(reasons, 'untouched actions keep their history').toHaveLength(3);
          continue;
        }
        expect(r.cancelled_at).not.toBeNull();
        expect(r.withdrawn_at, JSON.stringify(reasons)).not.toBeNull();
        // One cancel state and one withdrawal, after the original three.
        expect(reasons.slice(3, 4)).toEqual(['Running cancel requested; withdrawing']);
        expect(reasons, JSON.stringify(reasons)).toHaveLength(5);
        expect(reasons[4]).toMatch(
          r.provider === 'feeds'
            ? /^Completed withdrawn from feeds(; 198\.18\.7\.\d+ stays blocked by \d+ other active actions?)?$/
            : /^Completed (unblock delivered to hook \(webhook answered 200\)|withdrawn; 198\.19\.\d+\.\d+ stays blocked at hook by \d+ other active actions?)$/,
        );
      }
      const { lines } = await expectLedgerMatchesActions();
      // Nothing cancelled is still listed unless a live action covers the same address.
      const live = new Set(after.filter((r) => r.provider === 'feeds' && !doomed.has(r.id)).map((r) => r.indicator));
      expect(new Set(lines)).toEqual(live);

      const byKey = expectDeliveriesConsistent(new Set(after.map((r) => r.id)));
      for (const r of after.filter((x) => x.provider === 'hook')) {
        const unblocks = byKey.get(`${r.id}:unblock`)?.length ?? 0;
        const unblocked = /unblock delivered/.test(r.states.at(-1)!.reason ?? '');
        expect(unblocks > 0, `unblock deliveries of ${r.id}: ${unblocks}, last state ${r.states.at(-1)!.reason}`).toBe(unblocked);
      }
      const unblockKeys = [...byKey.entries()].filter(([k]) => k.endsWith(':unblock'));
      log.push(`cancel storm: ${rig.receiver.deliveries.length - deliveriesBefore} deliveries, ${unblockKeys.length} unblocked, ${unblockKeys.filter(([, ds]) => ds.length > 1).length} unblocks redelivered`);
      const { db } = await rig.db();
      expect(Number((await sql<{ n: number }>`select count(*) as n from jobs`.execute(db)).rows[0]!.n)).toBe(0);
    }, 90_000);
  });
}
