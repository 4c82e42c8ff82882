import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from '../helpers/backends.js';
import { ensureBuilt } from '../helpers/process.js';
import { cliToken, freePort, startServe, type BulwarkProcess } from './bulwark-process.js';

const collection = '/beta/security/securityActions';

/** One GET; `agent: false` opens a connection of its own, as a health probe or a new client does. */
function get(url: string, headers: Record<string, string>, agent: http.Agent | false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

/**
 * A busy service still takes in new connections (decision 0010, row 13; src/http/turn-gate.ts).
 * Node accepts one new connection per event-loop turn; without the turn gate a turn ran every list
 * request that was ready (here up to 32 pages of 1,000 actions), so a new connection waited for a
 * turn or two of them. Progress is counted in list answers, not timed: how many list pages the
 * keep-alive clients received while a probe on a new connection waited for its answer. SQLite only:
 * on PostgreSQL a request yields while its query runs, so turns stay short without the gate, and
 * the service runs without it there (the store's `synchronousQueries` capability).
 */
describe('a busy service takes in new connections (sqlite, real process)', () => {
  let storage: Awaited<ReturnType<(typeof sqliteBackend)['fresh']>>;
  let p: BulwarkProcess;
  let auth: Record<string, string>;

  beforeAll(async () => {
    ensureBuilt();
    storage = await sqliteBackend.fresh();
    const storageArgs = ['--data-dir', storage.dataDir];
    // Every page computed: with the list cache on, repeated pages cost next to nothing and the
    // answers counted below would no longer measure turns of expensive work.
    const config = path.join(storage.dataDir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ listCache: { megabytes: 0 } }));
    p = await startServe(['--port', String(await freePort()), '--no-engine', '--log-level', 'warn', '--config', config, ...storageArgs], { timeoutMs: 30_000 });
    auth = { authorization: `Bearer ${await cliToken(storageArgs, 'contoso', ['SecurityActions.ReadWrite.All'])}` };
  }, 60_000);
  afterAll(async () => {
    await p?.stop('SIGKILL');
    await storage?.cleanup();
  });

  it('answers a new connection within a few list answers while 32 keep-alive clients keep 1,000-action pages in flight', { timeout: 60_000 }, async () => {
    const created: string[] = [];
    for (let batch = 0; batch < 50; batch++) {
      const ids = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const res = await fetch(`${p.url}${collection}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: `10.9.${batch}.${i + 1}` }], vendorInformation: { provider: 'feeds' } }),
        });
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      }));
      created.push(...ids);
    }

    const deferred = async () => Number(/^bulwark_http_requests_deferred_total (\d+)$/m.exec((await get(`${p.url}/metrics`, {}, false)).body)?.[1]);
    const deferredBefore = await deferred();

    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const page = `${p.url}${collection}?$top=1000`;
    let answered = 0;
    let stop = false;
    const failures: number[] = [];
    const client = async () => {
      while (!stop) {
        const r = await get(page, auth, agent);
        if (r.status !== 200) failures.push(r.status);
        answered++;
      }
    };
    const clients = Array.from({ length: 32 }, client);
    while (answered < 64) await new Promise((r) => setTimeout(r, 10));

    // While the load runs: five health probes and five Graph reads, each on a new connection.
    const healthWaits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = answered;
      const r = await get(`${p.url}/healthz`, {}, false);
      expect(r.status).toBe(200);
      healthWaits.push(answered - before);
    }
    for (const id of created.slice(0, 5)) {
      const r = await get(`${p.url}${collection}/${id}`, auth, false);
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body) as { id: string }).id).toBe(id);
    }
    const answeredUnderLoad = answered;
    stop = true;
    await Promise.all(clients);
    agent.destroy();

    expect(failures).toEqual([]);
    // The gate engaged (and says so to the operator): list requests waited for later turns.
    expect(await deferred()).toBeGreaterThan(deferredBefore);
    expect(answeredUnderLoad).toBeGreaterThan(64);
    // Measured, three runs each: without the gate 63–409 pages were answered while one probe
    // waited (median 94, about three turns of 32 pages); with it 2–3.
    healthWaits.sort((a, b) => a - b);
    expect(healthWaits[2], `list answers during each probe: ${healthWaits.join(', ')}`).toBeLessThanOrEqual(8);
  });
});
