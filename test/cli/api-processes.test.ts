import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { ensureBuilt } from '../helpers/process.js';
import { waitFor } from '../engine/support.js';
import { cliToken, freePort, runCli, startServe, type BulwarkProcess } from './bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';
const collection = '/beta/security/securityActions';

/** The pids whose parent is `pid` (the API processes of a `serve --api-processes N`). */
function childrenOf(pid: number): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    } catch {
      return false;
    }
  }).map(Number);
}

/** Prometheus text → the value of every sample of `name` whose labels include `labels`, summed. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** GET on a connection of its own, so the cluster deals each request to the next API process. */
const getOnNewConnection = (url: string) =>
  new Promise<number>((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });

/** GET on a connection of its own; the body as text (fails unless 200). */
const bodyOnNewConnection = (url: string, headers: Record<string, string>) =>
  new Promise<string>((resolve, reject) => {
    http.get(url, { agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode}: ${text}`))));
    }).on('error', reject);
  });

for (const backend of backends()) {
  describe(`bulwark serve --api-processes 2 (${backend.name})`, () => {
    let storage: Awaited<ReturnType<(typeof backend)['fresh']>>;
    let storageArgs: string[];
    let p: BulwarkProcess;
    const tenant = 'contoso';
    let token: string;

    beforeAll(async () => {
      ensureBuilt();
      storage = await backend.fresh();
      storageArgs = ['--data-dir', storage.dataDir, ...(storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema!] : [])];
      // A minute between the engine's polls: anything that completes sooner was woken across processes.
      const config = path.join(storage.dataDir, 'config.json');
      fs.writeFileSync(config, JSON.stringify({ engine: { pollIntervalMs: 60_000 }, providers: [{ type: 'feeds', provider: 'feeds' }, { type: 'agent', provider: 'edge' }] }));
      storageArgs.push('--config', config);
      p = await startServe(['--port', String(await freePort()), '--api-processes', '2', ...storageArgs], { timeoutMs: 30_000 });
      token = await cliToken(storageArgs, tenant, [readWrite]);
    }, 60_000);
    afterAll(async () => {
      await p?.stop('SIGKILL');
      await storage?.cleanup();
    });

    const api = (pathname: string, init: RequestInit = {}) =>
      fetch(`${p.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
    const blockIp = (ip: string, provider = 'feeds') => JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: ip }], vendorInformation: { provider } });
    const action = async (id: string) => (await (await api(`${collection}/${id}`)).json()) as { status: string; completedDateTime: string | null; states: { reason: string }[] };

    it('answers on one port from two API processes; creates are enforced at once by the engine beside them, cancels withdraw', { timeout: 60_000 }, async () => {
      expect(p.stdout()).toMatch(/; 2 API processes\)/);
      expect(childrenOf(p.child.pid!)).toHaveLength(2);
      const feedCred = JSON.parse((await runCli(['feeds', 'credential', '--tenant', tenant, '--json', ...storageArgs])).stdout) as { token: string };
      const ipTxt = async () => (await (await fetch(`${p.url}/feeds/${tenant}/ip.txt`, { headers: { authorization: `Bearer ${feedCred.token}` } })).text()).split('\n').filter(Boolean).sort();

      // Concurrent requests open several connections, which the cluster spreads over both processes.
      const ips = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
      const created = await Promise.all(ips.map(async (ip) => {
        const res = await api(collection, { method: 'POST', body: blockIp(ip) });
        expect(res.status).toBe(201);
        return ((await res.json()) as { id: string }).id;
      }));
      const t0 = Date.now();
      await waitFor('every action completed', async () => ((await Promise.all(created.map(action))).every((a) => a.status === 'Completed') ? true : undefined), 10_000);
      expect(Date.now() - t0, 'woken by the API processes, not by its 60 s poll').toBeLessThan(10_000);
      expect(await ipTxt()).toEqual([...ips].sort());

      const res = await api(`${collection}/${created[0]}/cancelSecurityAction`, { method: 'POST' });
      expect(res.status).toBe(200);
      await waitFor('the cancelled block withdrawn', async () => ((await action(created[0]!)).states.at(-1)?.reason === 'withdrawn from feeds' ? true : undefined), 10_000);
      expect(await ipTxt()).toEqual(ips.slice(1).sort());
    });

    it("an agent's long poll wakes when the engine publishes, and its confirmation completes the action", { timeout: 60_000 }, async () => {
      const agent = JSON.parse((await runCli(['agents', 'add', '--tenant', tenant, '--provider', 'edge', '--name', 'fw1', '--json', ...storageArgs])).stdout) as { token: string };
      const agentApi = (pathname: string, init: RequestInit = {}) => fetch(`${p.url}/agents/${tenant}/edge/${pathname}`, { ...init, headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' } });
      const snapshot = (await (await agentApi('changes')).json()) as { cursor: number };
      const poll = agentApi(`changes?since=${snapshot.cursor}&wait=30`).then(async (r) => ({ at: Date.now(), ...((await r.json()) as { cursor: number; added: { value: string }[] }) }));
      await new Promise((r) => setTimeout(r, 200));
      const sent = Date.now();
      const res = await api(collection, { method: 'POST', body: blockIp('203.0.113.80', 'edge') });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const batch = await poll;
      expect(batch.added.map((a) => a.value)).toEqual(['203.0.113.80']);
      // Woken by the publication (the primary's engine, relayed), not by the end of its 30 s wait.
      expect(batch.at - sent).toBeLessThan(10_000);
      expect((await action(id)).status).toBe('Running');
      const confirm = await agentApi('confirm', { method: 'POST', body: JSON.stringify({ cursor: batch.cursor }) });
      expect(confirm.status).toBe(200);
      expect(await confirm.json()).toEqual({ confirmedCursor: batch.cursor, completedActions: 1 });
      expect((await action(id)).status).toBe('Completed');
    });

    it('/metrics adds up every process: requests either API process served, the engine steps the primary ran, stored actions counted once', { timeout: 60_000 }, async () => {
      const scrape = async () => {
        const res = await fetch(`${p.url}/metrics`);
        expect(res.status).toBe(200);
        return res.text();
      };
      const before = await scrape();
      expect(sample(before, 'bulwark_metrics_processes', { state: 'answered' })).toBe(3);
      expect(sample(before, 'bulwark_metrics_processes', { state: 'missing' })).toBe(0);
      const healthz = { route: '/healthz', method: 'GET', status: '200' };
      const statuses = await Promise.all(Array.from({ length: 30 }, () => getOnNewConnection(`${p.url}/healthz`)));
      expect(statuses.every((s) => s === 200)).toBe(true);
      // Whichever process answers the scrape, it reports all 30 (one process saw about half).
      for (let i = 0; i < 4; i++) {
        const after = await scrape();
        expect(sample(after, 'bulwark_http_requests_total', healthz) - sample(before, 'bulwark_http_requests_total', healthz)).toBe(30);
        // The engine runs in the primary, which serves no HTTP: its counters reach /metrics only through the sum.
        expect(sample(after, 'bulwark_engine_steps_total', { kind: 'apply', outcome: 'done' })).toBeGreaterThanOrEqual(41);
        // 41 actions created above; the database-derived gauge is the primary's alone, not one per process.
        expect(sample(after, 'bulwark_actions')).toBe(41);
      }
    });

    it('every API process shows a write at once, though each keeps list answers of its own', { timeout: 60_000 }, async () => {
      const probe = `${p.url}${collection}?$filter=${encodeURIComponent("clientContext eq 'cache-probe'")}`;
      const listEach = () =>
        Promise.all(Array.from({ length: 12 }, () => bodyOnNewConnection(probe, { authorization: `Bearer ${token}` }).then((b) => (JSON.parse(b).value as { id: string }[]).map((a) => a.id))));
      const hits = async () => sample(await (await fetch(`${p.url}/metrics`)).text(), 'bulwark_list_cache_hits_total');
      const before = await hits();
      for (const ids of [...(await listEach()), ...(await listEach())]) expect(ids).toEqual([]);
      // SQLite: both processes now serve the answer from their caches (PostgreSQL keeps none).
      if (backend.name === 'sqlite') expect(await hits()).toBeGreaterThan(before + 12);
      else expect(await hits()).toBe(before);
      const res = await api(collection, { method: 'POST', body: JSON.stringify({ name: 'BlockIp', clientContext: 'cache-probe', parameters: [{ name: 'IP', value: '198.51.100.200' }] }) });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      for (const ids of await listEach()) expect(ids).toEqual([id]);
    });

    it('replaces an API process that dies, and SIGTERM stops them all', { timeout: 60_000 }, async () => {
      const [victim, survivor] = childrenOf(p.child.pid!);
      process.kill(victim!, 'SIGKILL');
      const replaced = await waitFor('a replacement API process', async () => {
        const now = childrenOf(p.child.pid!);
        return now.length === 2 && !now.includes(victim!) ? now : undefined;
      }, 15_000);
      expect(replaced).toContain(survivor);
      // Every connection is answered, whichever process it lands on.
      const answers = await Promise.all(Array.from({ length: 20 }, () => api(`${collection}?$top=1`).then((r) => r.status)));
      expect(answers.every((s) => s === 200)).toBe(true);

      const exit = await p.stop('SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });
      expect(replaced.filter((pid) => fs.existsSync(`/proc/${pid}`))).toEqual([]);
    });
  });
}
