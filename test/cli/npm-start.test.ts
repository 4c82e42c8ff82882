import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliToken, freePort, repoRoot, startListening, tempDir, type BulwarkProcess } from './bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';

/**
 * The README's quick start, literally: `npm start` and `npm start -- --port N`, run by npm. It runs
 * in a copy of the sources (node_modules linked) because `npm start` rebuilds dist/, which other
 * tests' processes are loading from the checkout at the same time.
 */
describe('npm start (the quick start command)', () => {
  let checkout: string;
  const running: BulwarkProcess[] = [];
  const npmStart = async (args: string[]) => {
    const p = await startListening('npm', ['start', ...(args.length ? ['--', ...args] : [])], { cwd: checkout, processGroup: true, timeoutMs: 120_000 });
    running.push(p);
    return p;
  };

  beforeAll(() => {
    checkout = tempDir('bulwark-npm-start-');
    for (const entry of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src', 'bench']) {
      fs.cpSync(path.join(repoRoot, entry), path.join(checkout, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(checkout, 'node_modules'), 'dir');
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    fs.rmSync(checkout, { recursive: true, force: true });
  });

  it('`npm start` serves at http://127.0.0.1:8080 on ./data; `npm start -- --port N` moves it and keeps the data', { timeout: 300_000 }, async () => {
    const dataDir = path.join(checkout, 'data');
    expect(fs.existsSync(dataDir)).toBe(false);

    const first = await npmStart([]);
    expect(first.url).toBe('http://127.0.0.1:8080');
    expect(first.stdout()).toContain(`Bulwark listening on http://127.0.0.1:8080`);
    expect(first.stdout()).toMatch(/bulwark token --tenant \S+ --role SecurityActions\.ReadWrite\.All/);
    expect(fs.existsSync(dataDir)).toBe(true);
    const tenant = '4f2c1d7a-55b1-4e39-9d0e-8c6a2f1b3e10';
    const token = await cliToken(['--data-dir', dataDir], tenant, [readWrite]);
    const created = await fetch(`${first.url}/beta/security/securityActions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: '203.0.113.80' }] }),
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { id: string }).id;
    const stopped = await first.stop('SIGTERM');
    expect(stopped.signal === 'SIGTERM' || stopped.code === 0 || stopped.code === 143).toBe(true);

    const port = await freePort();
    const second = await npmStart(['--port', String(port)]);
    expect(second.url).toBe(`http://127.0.0.1:${port}`);
    // The issuer is the service's address, so a token minted for :8080 is not accepted at the new one.
    const stale = await fetch(`${second.url}/v1.0/security/securityActions/${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(stale.status).toBe(401);
    const fresh = await cliToken(['--data-dir', dataDir], tenant, [readWrite]);
    const again = await fetch(`${second.url}/v1.0/security/securityActions/${id}`, { headers: { authorization: `Bearer ${fresh}` } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(id);
  });
});
