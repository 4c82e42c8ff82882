import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roles } from '../../src/domain/security-action.js';
import { startHttpsBulwark, type HttpsBulwark, type RegisteredApp } from './support/https-bulwark.js';

/**
 * The TLS set-up itself, and the clients run the way a user runs them: in their own Node process
 * that trusts Bulwark's certificate through NODE_EXTRA_CA_CERTS, with no test helper in the request
 * path (fixtures/user-script.ts). This also checks that the in-process trust used by the other
 * conformance files (tls.ts) is not what makes the clients work.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(repoRoot, 'test/conformance/fixtures/user-script.ts');

interface ScriptResult {
  code: number | null;
  output: Record<string, unknown>;
  stderr: string;
}

function runUserScript(env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: repoRoot,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ code, output: JSON.parse(line) as Record<string, unknown>, stderr });
      } catch {
        reject(new Error(`user script printed no JSON (exit ${code}); stdout: ${stdout.slice(0, 500)} stderr: ${stderr.slice(0, 2000)}`));
      }
    });
  });
}

describe('HTTPS with a per-run self-signed certificate', () => {
  let b: HttpsBulwark;
  let app: RegisteredApp;

  beforeAll(async () => {
    b = await startHttpsBulwark({ engine: false });
    app = await b.registerApp({ roles: [roles.readWrite] });
  });

  afterAll(async () => {
    await b?.close();
  });

  it('serves the generated certificate, which Node does not trust by default', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: b.port, ca: b.cert.certPem, servername: 'localhost' });
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      socket.once('secureConnect', () => resolve(socket.getPeerX509Certificate()!));
      socket.once('error', reject);
    });
    socket.destroy();
    expect(peer.fingerprint256).toBe(new X509Certificate(b.cert.certPem).fingerprint256);
    expect(peer.checkIP('127.0.0.1')).toBe('127.0.0.1');

    // node:https with the default trust store refuses it (the in-process fetch trust does not leak there).
    const refused = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      https.get(`${b.url}/healthz`, (res) => reject(new Error(`unexpectedly connected: ${res.statusCode}`))).on('error', resolve);
    });
    expect(refused.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  const scriptEnv = () => ({
    BULWARK_URL: b.url,
    BULWARK_TENANT_ID: app.tenantId,
    BULWARK_CLIENT_ID: app.clientId,
    BULWARK_CLIENT_SECRET: app.clientSecret,
  });

  it('a user script (MSAL, graph-client v3, @azure/identity, Kiota) works unchanged with NODE_EXTRA_CA_CERTS', async () => {
    const result = await runUserScript({ ...scriptEnv(), NODE_EXTRA_CA_CERTS: b.cert.certPath });
    expect(result.output, result.stderr).toMatchObject({
      ok: true,
      v3CreatedStatus: 'NotStarted',
      v3Count: 1,
      kiotaStatus: 'NotStarted', // engine off: cancelled before dispatch
      kiotaCreatedIsDate: true,
      kiotaStates: 2,
      kiotaCount: 1,
    });
    expect(result.code).toBe(0);
    expect(result.output['msalTokenLength']).toBeGreaterThan(100);
    expect(result.output['identityTokenLength']).toBeGreaterThan(100);
    const got = await b.svc.fetch(`/beta/security/securityActions/${String(result.output['id'])}`, {
      token: await b.clientCredentialsToken(app),
    });
    expect(got.status).toBe(200);
  }, 90_000);

  it('the same script fails at its first TLS connection without NODE_EXTRA_CA_CERTS', async () => {
    const result = await runUserScript(scriptEnv());
    expect(result.code).toBe(1);
    expect(result.output['ok']).toBe(false);
    // MSAL cannot fetch the authority's OpenID configuration over the untrusted connection (the only
    // difference from the previous run is NODE_EXTRA_CA_CERTS) and reports it as endpoint resolution.
    expect(result.output['step']).toBe('msal');
    expect(JSON.stringify(result.output['error'])).toContain('endpoints_resolution_error');
  }, 90_000);
});
