import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, startServe, tempDir, type BulwarkProcess } from '../cli/bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';

/**
 * Issue 2 §7: one structured log line per request (request-id, tenant, app, route, status,
 * latency); tokens, secrets and request bodies are never logged. A real process, its real stdout.
 */
describe('structured request logs', () => {
  let dataDir: string;
  let proc: BulwarkProcess;
  beforeAll(async () => {
    dataDir = tempDir('bulwark-logs-');
    proc = await startServe(['--port', String(await freePort()), '--data-dir', dataDir, '--log-level', 'info']);
  });
  afterAll(async () => {
    await proc?.stop('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The parsed JSON lines of stdout with msg "request". */
  function requestLines(): Record<string, unknown>[] {
    return proc
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l['msg'] === 'request');
  }

  async function lineFor(requestId: string): Promise<Record<string, unknown>[]> {
    for (let i = 0; i < 50; i++) {
      const lines = requestLines().filter((l) => Object.values(l).includes(requestId));
      if (lines.length > 0) return lines;
      await new Promise((r) => setTimeout(r, 50));
    }
    return [];
  }

  it('writes exactly one line per request with request-id, tenant, app, route, status and latency, and never a secret, token or body', async () => {
    const tenant = `logs-${crypto.randomUUID().slice(0, 8)}`;
    const created = await runCli(['apps', 'create', '--tenant', tenant, '--name', 'soar', '--role', readWrite, '--json', '--data-dir', dataDir]);
    expect(created.code, created.stderr).toBe(0);
    const app = JSON.parse(created.stdout) as { clientId: string; clientSecret: string };

    const wrongSecret = `WRONG-SECRET-${crypto.randomUUID()}`;
    const bodyMarker = `BODY-MARKER-${crypto.randomUUID()}`;
    const form = (secret: string) => new URLSearchParams({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: secret, scope: 'api://bulwark/.default' }).toString();
    const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

    const tokenRes = await fetch(`${proc.url}/${tenant}/oauth2/v2.0/token`, { method: 'POST', headers: formHeaders, body: form(app.clientSecret) });
    expect(tokenRes.status).toBe(200);
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const bad = await fetch(`${proc.url}/${tenant}/oauth2/v2.0/token`, { method: 'POST', headers: formHeaders, body: form(wrongSecret) });
    expect(bad.status).toBe(401);

    const auth = { authorization: `Bearer ${token}` };
    const post = await fetch(`${proc.url}/beta/security/securityActions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'client-request-id': 'log-test-1' },
      body: JSON.stringify({ name: 'BlockIp', actionReason: bodyMarker, clientContext: bodyMarker, parameters: [{ name: 'IP', value: '203.0.113.80' }] }),
    });
    expect(post.status).toBe(201);
    const { id } = (await post.json()) as { id: string };
    const get = await fetch(`${proc.url}/v1.0/security/securityActions/${id}`, { headers: auth });
    const missing = await fetch(`${proc.url}/beta/nothing/here`, { headers: auth });
    const forged = `${token.slice(0, -8)}AAAAAAAA`;
    const unauthorized = await fetch(`${proc.url}/beta/security/securityActions`, { headers: { authorization: `Bearer ${forged}` } });
    const rejected = await fetch(`${proc.url}/beta/security/securityActions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: bodyMarker }) });
    expect([get.status, missing.status, unauthorized.status, rejected.status]).toEqual([200, 404, 401, 400]);

    const expected: [Response, Record<string, unknown>][] = [
      [tokenRes, { tenant, app: app.clientId, status: 200, method: 'POST' }],
      [bad, { status: 401 }],
      [post, { tenant, app: app.clientId, status: 201, method: 'POST', route: '/beta/security/securityActions' }],
      [get, { tenant, app: app.clientId, status: 200, method: 'GET', route: '/v1.0/security/securityActions/:id' }],
      [missing, { status: 404 }],
      [unauthorized, { status: 401 }],
      [rejected, { tenant, app: app.clientId, status: 400 }],
    ];
    for (const [res, fields] of expected) {
      const requestId = res.headers.get('request-id')!;
      const lines = await lineFor(requestId);
      expect(lines, requestId).toHaveLength(1);
      const line = lines[0]!;
      expect(line).toMatchObject(fields);
      expect(Object.values(line)).toContain(requestId);
      expect(typeof line['route']).toBe('string');
      const latency = line['ms'] ?? line['responseTime'] ?? line['latency'];
      expect(typeof latency).toBe('number');
      expect(latency as number).toBeGreaterThanOrEqual(0);
    }

    const everything = proc.stdout() + proc.stderr();
    for (const secret of [token, token.split('.')[2]!, forged.split('.')[2]!, app.clientSecret, wrongSecret, bodyMarker, `Bearer ${token.slice(0, 20)}`]) {
      expect(everything.includes(secret), `log contains ${secret.slice(0, 24)}…`).toBe(false);
    }
  });
});
