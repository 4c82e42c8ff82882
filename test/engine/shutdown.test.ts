import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { blockIp, collection, item, waitFor } from './support.js';
import { createRig, tryFetch, type ProcessRig } from './process-support.js';

/** Job rows in the store: all, those leased by owners matching `leasedBy` (SQL LIKE), or all leased ones. */
const count = async (rig: ProcessRig, filter: { leasedBy?: string; leased?: true } = {}) => {
  const { db } = await rig.db();
  let q = db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n'));
  if (filter.leasedBy) q = q.where('lease_owner', 'like', filter.leasedBy);
  if (filter.leased) q = q.where('lease_owner', 'is not', null);
  return Number((await q.executeTakeFirstOrThrow()).n);
};

for (const backend of backends()) {
  describe(`graceful shutdown (${backend.name})`, () => {
    let rig: ProcessRig;
    let token: string;
    beforeAll(async () => {
      // Leases far longer than the test: only a release on shutdown lets a restart pick the work up soon.
      rig = await createRig(backend, { engine: { leaseMs: 60_000, pollIntervalMs: 200, concurrency: 8 }, receiverDelayMs: () => 150 + randomInt(100) });
      await rig.start();
      token = await rig.token();
    }, 60_000);
    afterAll(async () => rig?.close());

    const post = (body: unknown) =>
      tryFetch(`${rig.url}${collection}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('SIGTERM during load: exits 0 within a few seconds, releases its leases, and a restart finishes everything', async () => {
      const proc = rig.proc!;
      const owner = `engine-${proc.pid}-%`;
      const bodies = Array.from({ length: 120 }, (_, i) => blockIp(`198.18.${(i >> 7) + 40}.${(i & 127) + 1}`, i % 3 === 0 ? {} : { provider: 'hook' }));
      let next = 0;
      let answered = 0;
      let stop = false;
      // Clients keep posting until the process stops answering.
      const clients = Array.from({ length: 4 }, async () => {
        while (!stop && next < bodies.length) {
          const res = await post(bodies[next++]);
          if (!res) return;
          expect([201, 503]).toContain(res.status);
          if (res.status === 201) answered++;
          await res.arrayBuffer();
        }
      });
      // Shut down while the engine holds leases (deliveries in flight).
      const heldBefore = await waitFor('the engine to hold leases', async () => {
        const n = await count(rig, { leasedBy: owner });
        return n > 0 && answered >= 20 ? n : undefined;
      }, 20_000, 10);
      // SIGKILL after 10 s (the service itself gives up after 30 s) so a hang fails fast.
      const exit = await proc.terminate(10_000);
      stop = true;
      await Promise.all(clients);
      console.log(`[shutdown ${backend.name}] SIGTERM with ${heldBefore} leases held and ${answered} actions acknowledged: exit ${JSON.stringify(exit)}`);
      expect({ code: exit.code, signal: exit.signal, withinFiveSeconds: exit.ms <= 5000 }, `exit after SIGTERM (${exit.ms} ms); output:\n${proc.output().slice(-4000)}`).toEqual({ code: 0, signal: null, withinFiveSeconds: true });
      expect(await count(rig, { leasedBy: owner })).toBe(0);
      expect(await count(rig, { leased: true })).toBe(0);
      const left = await count(rig);

      // The restart takes over at once (no lease to wait out) and ends every stored action.
      const restarted = await rig.start();
      const started = Date.now();
      const { db } = await rig.db();
      await waitFor('every action to end', async () => {
        const open = await db.selectFrom('actions').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', rig.tenant).where('completed_at', 'is', null).executeTakeFirstOrThrow();
        return Number(open.n) === 0 && (await count(rig)) === 0;
      }, 20_000, 50);
      console.log(`[shutdown ${backend.name}] restart (pid ${restarted.pid}) finished ${left} remaining jobs in ${Date.now() - started} ms`);
      const rows = await db.selectFrom('actions').select(['id', 'status', 'provider', 'states']).where('tenant_id', '=', rig.tenant).execute();
      expect(rows.length).toBeGreaterThanOrEqual(answered);
      for (const r of rows) {
        const states = (JSON.parse(r.states) as { status: string; reason: string }[]).map((s) => `${s.status} ${s.reason}`);
        expect(r.status, JSON.stringify(states)).toBe('Completed');
        expect(states.filter((s) => s.startsWith('Running dispatched')), JSON.stringify(states)).toHaveLength(1);
        expect(states).toHaveLength(3);
        if (r.provider === 'hook') expect(rig.receiver.byKey(`${r.id}:block`).length).toBeGreaterThanOrEqual(1);
      }
    }, 60_000);
  });

  describe(`graceful shutdown with a change-stream long poll open (${backend.name})`, () => {
    let rig: ProcessRig;
    beforeAll(async () => {
      rig = await createRig(backend, { engine: {}, receiverDelayMs: () => 10 });
      await rig.start();
    }, 60_000);
    afterAll(async () => rig?.close());

    it('SIGTERM while a reader waits on /changes (as agents and feed readers do): the poll is answered and the process exits 0 within a few seconds', async () => {
      const proc = rig.proc!;
      const headers = { authorization: `Bearer ${rig.feedToken()}` };
      const first = await fetch(`${rig.url}/feeds/${rig.tenant}/changes`, { headers });
      expect(first.status).toBe(200);
      const { cursor } = (await first.json()) as { cursor: number };
      // A keep-alive client waiting for changes, as `bulwark agent` does all the time.
      const poll = fetch(`${rig.url}/feeds/${rig.tenant}/changes?since=${cursor}&wait=25`, { headers }).then(
        async (r) => ({ status: r.status, body: (await r.json()) as { cursor: number } }),
        (e: Error) => ({ status: 0, body: e.message }),
      );
      await waitFor('the long poll to be waiting', async () => {
        const metrics = await (await fetch(`${rig.url}/metrics`, { headers: { connection: 'close' } })).text();
        return /^bulwark_change_stream_clients 1$/m.test(metrics);
      }, 5000);
      const exit = await proc.terminate(10_000);
      console.log(`[shutdown ${backend.name}] SIGTERM with a long poll open: exit ${JSON.stringify(exit)}`);
      expect(await poll).toEqual({ status: 200, body: expect.objectContaining({ cursor }) });
      expect({ code: exit.code, signal: exit.signal, withinFiveSeconds: exit.ms <= 5000 }, `exit after SIGTERM (${exit.ms} ms); output:\n${proc.output().slice(-4000)}`).toEqual({ code: 0, signal: null, withinFiveSeconds: true });
    }, 30_000);
  });

  describe(`graceful shutdown of a worker (${backend.name})`, () => {
    let rig: ProcessRig;
    let token: string;
    beforeAll(async () => {
      // The API without an engine, plus `bulwark worker` processes doing the enforcement.
      rig = await createRig(backend, { engine: { leaseMs: 60_000, pollIntervalMs: 100, concurrency: 8 }, receiverDelayMs: () => 150 + randomInt(100) });
      await rig.start(['--no-engine']);
      token = await rig.token();
    }, 60_000);
    afterAll(async () => rig?.close());

    it('SIGTERM to a busy worker: exits 0 within a few seconds, gives back its leases, and the next worker finishes everything', async () => {
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const worker = await rig.startWorker();
      const owner = `engine-${worker.pid}-%`;
      for (let i = 0; i < 60; i += 10) {
        const batch = Array.from({ length: 10 }, (_, k) => blockIp(`198.18.50.${i + k + 1}`, (i + k) % 3 === 0 ? {} : { provider: 'hook' }));
        const answers = await Promise.all(batch.map((body) => tryFetch(`${rig.url}${collection}`, { method: 'POST', headers, body: JSON.stringify(body) })));
        expect(answers.map((r) => r?.status)).toEqual(batch.map(() => 201));
      }
      const held = await waitFor('the worker to hold leases', async () => {
        const n = await count(rig, { leasedBy: owner });
        return n > 0 ? n : undefined;
      }, 20_000, 10);
      const exit = await worker.terminate(10_000);
      console.log(`[shutdown ${backend.name}] worker SIGTERM with ${held} leases held: exit ${JSON.stringify(exit)}`);
      expect({ code: exit.code, signal: exit.signal, withinFiveSeconds: exit.ms <= 5000 }, `exit after SIGTERM (${exit.ms} ms); output:\n${worker.output().slice(-4000)}`).toEqual({ code: 0, signal: null, withinFiveSeconds: true });
      expect(await count(rig, { leased: true })).toBe(0);
      const left = await count(rig);
      expect(left, 'work was still queued when the worker stopped').toBeGreaterThan(0);

      const next = await rig.startWorker();
      const started = Date.now();
      const { db } = await rig.db();
      await waitFor('every action to end', async () => {
        const open = await db.selectFrom('actions').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', rig.tenant).where('completed_at', 'is', null).executeTakeFirstOrThrow();
        return Number(open.n) === 0 && (await count(rig)) === 0;
      }, 20_000, 50);
      console.log(`[shutdown ${backend.name}] next worker (pid ${next.pid}) finished ${left} remaining jobs in ${Date.now() - started} ms`);
      const rows = await db.selectFrom('actions').select(['id', 'status', 'provider', 'states']).where('tenant_id', '=', rig.tenant).execute();
      expect(rows).toHaveLength(60);
      for (const r of rows) {
        const states = (JSON.parse(r.states) as { status: string; reason: string }[]).map((st) => `${st.status} ${st.reason}`);
        expect(r.status, JSON.stringify(states)).toBe('Completed');
        expect(states, JSON.stringify(states)).toHaveLength(3);
        if (r.provider === 'hook') expect(rig.receiver.byKey(`${r.id}:block`).length).toBeGreaterThanOrEqual(1);
      }
    }, 60_000);
  });

  describe(`liveness with every engine slot busy (${backend.name})`, () => {
    let rig: ProcessRig;
    let token: string;
    beforeAll(async () => {
      rig = await createRig(backend, { engine: { concurrency: 2, pollIntervalMs: 200 }, receiverDelayMs: () => 400 });
      await rig.start();
      token = await rig.token();
    }, 60_000);
    afterAll(async () => rig?.close());

    it('keeps answering the API while all slots wait on slow deliveries, and finishes the queue', async () => {
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await tryFetch(`${rig.url}${collection}`, { method: 'POST', headers, body: JSON.stringify(blockIp(`198.18.60.${i + 1}`, { provider: 'hook' })) });
        expect(res?.status).toBe(201);
        ids.push(((await res!.json()) as { id: string }).id);
      }
      await waitFor('both slots to be busy', async () => (await count(rig, { leased: true })) === 2, 10_000, 10);
      // New work arrives (a wake-up) while no slot is free: the process must stay responsive.
      for (let i = 0; i < 3; i++) {
        const created = await tryFetch(`${rig.url}${collection}`, { method: 'POST', headers, body: JSON.stringify(blockIp(`198.18.61.${i + 1}`)) });
        expect(created?.status, 'POST while every slot is busy').toBe(201);
        ids.push(((await created!.json()) as { id: string }).id);
        const got = await tryFetch(`${rig.url}${item(ids[0]!)}`, { headers });
        expect(got?.status, 'GET while every slot is busy').toBe(200);
      }
      await waitFor('every action to complete', async () => {
        for (const id of ids) {
          const res = await tryFetch(`${rig.url}${item(id)}`, { headers });
          if (!res || ((await res.json()) as { status: string }).status !== 'Completed') return false;
        }
        return true;
      }, 20_000, 100);
    }, 40_000);
  });
}
