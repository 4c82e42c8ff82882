import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBackend } from '../helpers/backends.js';
import { runBulwark, startBulwark, type BulwarkProcess } from '../helpers/process.js';

/**
 * Issue 4 §3: LISTEN/NOTIFY wakes workers and answers long polls on every API node within
 * milliseconds of a change made through any node. The engine's safety-net poll is set to 30 s, so
 * anything faster than that can only come from a notification.
 */
describe('LISTEN/NOTIFY across processes on PostgreSQL', () => {
  const processes: BulwarkProcess[] = [];
  let cleanup: () => Promise<void> = async () => undefined;
  let nodeA: BulwarkProcess;
  let nodeB: BulwarkProcess;
  let token: string;
  let feed: string;
  const tenant = 'notify-test';

  beforeAll(async () => {
    const storage = await postgresBackend.fresh();
    const configFile = path.join(storage.dataDir, 'bulwark.json');
    fs.writeFileSync(configFile, JSON.stringify({ engine: { pollIntervalMs: 30_000 }, logLevel: 'warn' }));
    const args = ['--config', configFile, '--database-url', storage.databaseUrl!, '--database-schema', storage.databaseSchema!, '--public-url', 'http://bulwark.test'];
    cleanup = async () => {
      await Promise.all(processes.map((p) => p.kill9()));
      await storage.cleanup();
    };
    processes.push(...(await Promise.all([startBulwark({ args: [...args, '--no-engine'] }), startBulwark({ args: [...args, '--no-engine'] }), startBulwark({ command: 'worker', args })])));
    [nodeA, nodeB] = processes as [BulwarkProcess, BulwarkProcess];
    token = runBulwark(['token', ...args, '--tenant', tenant, '--role', 'SecurityActions.ReadWrite.All']).trim();
    feed = (JSON.parse(runBulwark(['feeds', 'credential', ...args, '--tenant', tenant, '--json'])) as { token: string }).token;
  }, 60_000);
  afterAll(async () => cleanup());

  const post = async (node: BulwarkProcess, ip: string) => {
    const res = await fetch(`${node.url}/beta/security/securityActions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: ip }] }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  it('a worker picks up work created through an API node at once (not at its 30 s poll)', async () => {
    const started = Date.now();
    const id = await post(nodeA, '192.0.2.10');
    let status = '';
    while (status !== 'Completed' && Date.now() - started < 10_000) {
      status = ((await (await fetch(`${nodeB.url}/beta/security/securityActions/${id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as { status: string }).status;
      if (status !== 'Completed') await new Promise((r) => setTimeout(r, 10));
    }
    const ms = Date.now() - started;
    console.info(`POST on node A → Completed (worker woken by NOTIFY), read on node B: ${ms} ms`);
    expect(status).toBe('Completed');
    expect(ms).toBeLessThan(5000);
  });

  it("a long poll on node B answers within milliseconds of a block posted through node A", async () => {
    const head = (await (await fetch(`${nodeB.url}/feeds/${tenant}/changes`, { headers: { authorization: `Bearer ${feed}` } })).json()) as { cursor: number };
    const polled = fetch(`${nodeB.url}/feeds/${tenant}/changes?since=${head.cursor}&wait=30`, { headers: { authorization: `Bearer ${feed}` } }).then(async (r) => ({ at: Date.now(), body: (await r.json()) as { added: { value: string }[] } }));
    await new Promise((r) => setTimeout(r, 300)); // the poll is waiting on node B
    const posted = Date.now();
    await post(nodeA, '192.0.2.11');
    const { at, body } = await polled;
    console.info(`POST on node A → node B's long poll answered: ${at - posted} ms`);
    expect(body.added.map((a) => a.value)).toEqual(['192.0.2.11']);
    expect(at - posted).toBeLessThan(5000);
  });
});
