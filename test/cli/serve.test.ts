import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpsRequest, selfSignedCert } from '../api/tls.js';
import { cliToken, freePort, runCli, runNpx, startServe, tempDir, type BulwarkProcess } from './bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';
const blockIp = (ip: string) => JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: ip }] });

/** `bulwark serve` as a user runs it: a real process, a real port, a real data directory. */
describe.concurrent('bulwark serve (quick start)', () => {
  const running: BulwarkProcess[] = [];
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
  async function serve(args: string[], options: Parameters<typeof startServe>[1] = {}): Promise<BulwarkProcess> {
    const p = await startServe(args, options);
    running.push(p);
    return p;
  }
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop('SIGKILL')));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('--port and --data-dir: creates the data dir, prints where it listens and how to get a token, and serves', async () => {
    const port = await freePort();
    const dataDir = path.join(dir(), 'nested', 'data');
    expect(fs.existsSync(dataDir)).toBe(false);
    const p = await serve(['--port', String(port), '--data-dir', dataDir]);
    expect(p.url).toBe(`http://127.0.0.1:${port}`);
    const out = p.stdout();
    expect(out).toContain(`Bulwark listening on http://127.0.0.1:${port}`);
    expect(out).toContain(dataDir);
    expect(out).toContain(`http://127.0.0.1:${port}/beta/security/securityActions`);
    expect(out).toMatch(/bulwark token --tenant \S+ --role SecurityActions\.ReadWrite\.All/);
    expect(out).toContain(`--data-dir ${dataDir}`);
    expect(out).toContain('apps create');
    expect(out).toContain(`http://127.0.0.1:${port}/<tenantId>/oauth2/v2.0/token`);
    expect(fs.existsSync(dataDir)).toBe(true);
    expect(fs.readdirSync(dataDir)).toContain('bulwark.db');

    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    // The printed token command works while the service runs, and its token works on the API.
    const token = await cliToken(['--data-dir', dataDir], 'contoso', [readWrite]);
    const res = await fetch(`${p.url}/beta/security/securityActions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: blockIp('203.0.113.60') });
    expect(res.status).toBe(201);
  });

  it('`npx bulwark apps create --json` registers an app while the service runs; its credentials get a token', { timeout: 60_000 }, async () => {
    const dataDir = dir();
    const p = await serve(['--port', String(await freePort()), '--data-dir', dataDir]);
    const r = await runNpx(['apps', 'create', '--tenant', 'northwind', '--name', 'soar', '--role', readWrite, '--json', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    const app = JSON.parse(r.stdout) as { tenantId: string; clientId: string; clientSecret: string };
    expect(app.tenantId).toBe('northwind');
    const res = await fetch(`${p.url}/northwind/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, scope: 'api://bulwark/.default' }).toString(),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect((await fetch(`${p.url}/beta/security/securityActions`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
  });

  it('keeps the data dir across a restart: actions and signing keys survive (an old token still works)', async () => {
    const port = await freePort();
    const dataDir = dir();
    const first = await serve(['--port', String(port), '--data-dir', dataDir]);
    const token = await cliToken(['--data-dir', dataDir], 'fabrikam', [readWrite]);
    const created = (await (await fetch(`${first.url}/beta/security/securityActions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: blockIp('203.0.113.61'),
    })).json()) as { id: string };
    expect((await first.stop('SIGTERM')).code).toBe(0);

    const second = await serve(['--port', String(port), '--data-dir', dataDir]);
    const res = await fetch(`${second.url}/beta/security/securityActions/${created.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(created.id);
  });

  it('PORT, HOST and BULWARK_DATA_DIR configure it; the default data dir is ./data', async () => {
    const port = await freePort();
    const dataDir = path.join(dir(), 'from-env');
    const p = await serve([], { env: { PORT: String(port), HOST: '127.0.0.1', BULWARK_DATA_DIR: dataDir } });
    expect(p.url).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`${p.url}/healthz`)).status).toBe(200);
    expect(fs.readdirSync(dataDir)).toContain('bulwark.db');

    const cwd = dir();
    const port2 = await freePort();
    const q = await serve([], { cwd, env: { PORT: String(port2) } });
    expect(q.url).toBe(`http://127.0.0.1:${port2}`);
    expect(fs.readdirSync(path.join(cwd, 'data'))).toContain('bulwark.db');
  });

  it('flags take precedence over the environment', async () => {
    const [envPort, flagPort] = [await freePort(), await freePort()];
    const envDir = path.join(dir(), 'env');
    const flagDir = path.join(dir(), 'flag');
    const p = await serve(['--port', String(flagPort), '--data-dir', flagDir], { env: { PORT: String(envPort), BULWARK_DATA_DIR: envDir } });
    expect(p.url).toBe(`http://127.0.0.1:${flagPort}`);
    expect(fs.existsSync(path.join(flagDir, 'bulwark.db'))).toBe(true);
    expect(fs.existsSync(envDir)).toBe(false);
  });

  it('--host is honoured', async () => {
    const port = await freePort();
    const p = await serve(['--port', String(port), '--host', 'localhost', '--data-dir', dir()]);
    expect(p.url).toBe(`http://localhost:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => fetch(`http://[::1]:${port}/healthz`))).status).toBe(200);
  });

  it('--tls-cert/--tls-key serve HTTPS and say so', async () => {
    const tls = selfSignedCert();
    dirs.push(tls.dir);
    const port = await freePort();
    const dataDir = dir();
    const p = await serve(['--port', String(port), '--data-dir', dataDir, '--tls-cert', tls.cert, '--tls-key', tls.key]);
    expect(p.url).toBe(`https://127.0.0.1:${port}`);
    expect(p.stdout()).toContain(`https://127.0.0.1:${port}/beta/security/securityActions`);
    const token = await cliToken(['--data-dir', dataDir], 'contoso', [readWrite]);
    const res = await httpsRequest(`${p.url}/beta/security/securityActions`, tls.ca, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: blockIp('203.0.113.62'),
    });
    expect(res.status).toBe(201);
    expect(res.headers['location']).toMatch(/^https:\/\//);
  });

  it('SIGTERM shuts it down cleanly (exit 0)', async () => {
    const p = await serve(['--port', String(await freePort()), '--data-dir', dir()]);
    const { code } = await p.stop('SIGTERM');
    expect(code).toBe(0);
  });

  it('a port already in use is reported clearly and the process exits non-zero', async () => {
    const port = await freePort();
    await serve(['--port', String(port), '--data-dir', dir()]);
    const r = await runCli(['serve', '--port', String(port), '--data-dir', dir()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/EADDRINUSE|in use/);
    expect(r.stderr).toContain(String(port));
  });
});
