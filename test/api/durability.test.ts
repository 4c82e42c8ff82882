import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { cliToken, freePort, startServe } from '../cli/bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';

/**
 * Issue 2 §10: an action acknowledged with 201 survives `kill -9` of the service and a restart.
 * A real `bulwark serve` process; requests are still in flight when it is killed.
 */
for (const backend of backends()) {
  describe(`durability across kill -9 (${backend.name})`, () => {
    let storage: Awaited<ReturnType<typeof backend.fresh>>;
    let storageFlags: string[];
    beforeAll(async () => {
      storage = await backend.fresh();
      storageFlags = [
        '--data-dir', storage.dataDir,
        ...(storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema!] : []),
      ];
    });
    afterAll(async () => storage?.cleanup());

    it('every action acknowledged with 201 before the kill is there after a restart', { timeout: 90_000 }, async () => {
      const port = await freePort();
      const first = await startServe(['--port', String(port), '--log-level', 'warn', ...storageFlags]);
      try {
        const tenant = `durable-${crypto.randomUUID().slice(0, 8)}`;
        const token = await cliToken(storageFlags, tenant, [readWrite]);
        const acknowledged: { id: string; ip: string }[] = [];
        let failed = 0;
        const total = 300;
        let resolveEnough!: () => void;
        const enough = new Promise<void>((r) => (resolveEnough = r));
        const inFlight = Array.from({ length: total }, async (_, i) => {
          const ip = `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`;
          try {
            const res = await fetch(`${first.url}/beta/security/securityActions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name: 'BlockIp', clientContext: `durable-${i}`, parameters: [{ name: 'IP', value: ip }] }),
            });
            const body = (await res.json()) as { id: string };
            if (res.status === 201) acknowledged.push({ id: body.id, ip });
            else failed++;
          } catch {
            failed++; // connection cut by the kill: never acknowledged
          }
          if (acknowledged.length >= 60) resolveEnough();
        });
        await Promise.race([enough, Promise.all(inFlight)]);
        first.child.kill('SIGKILL');
        const exit = await first.exited;
        expect(exit.signal).toBe('SIGKILL');
        await Promise.all(inFlight);
        expect(acknowledged.length).toBeGreaterThanOrEqual(60);
        expect(acknowledged.length + failed).toBe(total);

        const second = await startServe(['--port', String(port), '--log-level', 'warn', ...storageFlags]);
        try {
          const after = await cliToken(storageFlags, tenant, [readWrite]);
          const auth = { authorization: `Bearer ${after}` };
          for (let i = 0; i < acknowledged.length; i += 50) {
            await Promise.all(
              acknowledged.slice(i, i + 50).map(async ({ id, ip }) => {
                const res = await fetch(`${second.url}/beta/security/securityActions/${id}`, { headers: auth });
                expect(res.status, id).toBe(200);
                const body = (await res.json()) as { id: string; parameters: { name: string; value: string }[] };
                expect(body.id).toBe(id);
                expect(body.parameters).toEqual([{ name: 'IP', value: ip }]);
              }),
            );
          }
          const count = Number(await (await fetch(`${second.url}/beta/security/securityActions/$count`, { headers: auth })).text());
          expect(count).toBeGreaterThanOrEqual(acknowledged.length);
          expect(count).toBeLessThanOrEqual(total);
          // and the restarted service takes new work
          const res = await fetch(`${second.url}/beta/security/securityActions`, {
            method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.99' }] }),
          });
          expect(res.status).toBe(201);
        } finally {
          await second.stop('SIGKILL');
        }
      } finally {
        await first.stop('SIGKILL');
      }
    });
  });
}
