import fs from 'node:fs';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './bulwark-process.js';

const readWrite = 'SecurityActions.ReadWrite.All';
const read = 'SecurityActions.Read.All';

describe.concurrent('bulwark CLI commands', () => {
  const dirs: string[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('--help', () => {
    it('lists the commands', async () => {
      const r = await runCli(['--help']);
      expect(r.code).toBe(0);
      for (const command of ['serve', 'token', 'apps', 'migrate']) expect(r.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    });

    it('serve --help lists every option with its environment variable', async () => {
      const r = await runCli(['serve', '--help']);
      expect(r.code).toBe(0);
      for (const option of ['--port <number>', '--host <address>', '--data-dir <dir>', '--tls-cert <file>', '--tls-key <file>', '--log-level <level>', '--config <file>', '--database-url <url>']) {
        expect(r.stdout).toContain(option);
      }
      for (const env of ['PORT', 'HOST', 'BULWARK_DATA_DIR', 'BULWARK_TLS_CERT']) expect(r.stdout).toMatch(new RegExp(`\\b${env}\\b`));
    });

    it('token --help and apps create --help describe their options', async () => {
      const token = await runCli(['token', '--help']);
      expect(token.code).toBe(0);
      for (const option of ['--tenant', '--role', '--app', '--user', '--data-dir']) expect(token.stdout).toContain(option);
      const apps = await runCli(['apps', 'create', '--help']);
      expect(apps.code).toBe(0);
      for (const option of ['--tenant', '--name', '--role', '--json', '--data-dir']) expect(apps.stdout).toContain(option);
    });
  });

  describe('token', () => {
    it('prints one signed access token with the requested claims', async () => {
      const dataDir = dir();
      const r = await runCli(['token', '--tenant', 'contoso', '--role', readWrite, '--role', read, '--data-dir', dataDir]);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const claims = decodeJwt(lines[0]!);
      expect(claims['tid']).toBe('contoso');
      expect(claims['roles']).toEqual([readWrite, read]);
      expect(claims['appid']).toBeTruthy();
      expect(claims['azp']).toBe(claims['appid']);
      expect(claims).not.toHaveProperty('upn');
      expect(claims.iss).toMatch(/\/contoso\/v2\.0$/);
      expect(claims.exp! - claims.iat!).toBe(3600);
    });

    it('--app, --user and --lifetime set appid/azp, upn and exp', async () => {
      const r = await runCli(['token', '--tenant', 't1', '--role', readWrite, '--app', 'soar-1', '--user', 'analyst@contoso.example', '--lifetime', '120', '--data-dir', dir()]);
      expect(r.code, r.stderr).toBe(0);
      const claims = decodeJwt(r.stdout.trim());
      expect(claims['appid']).toBe('soar-1');
      expect(claims['azp']).toBe('soar-1');
      expect(claims['upn']).toBe('analyst@contoso.example');
      expect(claims.exp! - claims.iat!).toBe(120);
    });

    it('reads the data dir from BULWARK_DATA_DIR and signs with the key kept there', async () => {
      const dataDir = dir();
      const a = await runCli(['token', '--tenant', 't1', '--role', read], { env: { BULWARK_DATA_DIR: dataDir } });
      expect(a.code, a.stderr).toBe(0);
      expect(fs.readdirSync(dataDir)).toContain('bulwark.db');
      const b = await runCli(['token', '--tenant', 't1', '--role', read, '--data-dir', dataDir]);
      const kid = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid as string;
      expect(kid(b.stdout.trim())).toBe(kid(a.stdout.trim()));
    });
  });

  describe('apps create', () => {
    it('--json prints tenantId, clientId and clientSecret; apps list never shows the secret', async () => {
      const dataDir = dir();
      const r = await runCli(['apps', 'create', '--tenant', 'contoso', '--name', 'soar', '--role', readWrite, '--json', '--data-dir', dataDir]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({ tenantId: 'contoso', roles: [readWrite] });
      expect(out['clientId']).toMatch(/^[0-9a-f-]{36}$/);
      expect(String(out['clientSecret']).length).toBeGreaterThanOrEqual(32);

      const list = await runCli(['apps', 'list', '--tenant', 'contoso', '--json', '--data-dir', dataDir]);
      expect(list.code, list.stderr).toBe(0);
      const apps = JSON.parse(list.stdout) as Record<string, unknown>[];
      expect(apps.map((a) => a['clientId'])).toEqual([out['clientId']]);
      expect(list.stdout).not.toContain(String(out['clientSecret']));
    });

    it('without --json prints a readable block that says the secret is shown once', async () => {
      const r = await runCli(['apps', 'create', '--tenant', 'contoso', '--name', 'soar', '--role', read, '--data-dir', dir()]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^tenantId:\s+contoso$/m);
      expect(r.stdout).toMatch(/^clientId:\s+[0-9a-f-]{36}$/m);
      expect(r.stdout).toMatch(/^clientSecret:\s+\S{32,}$/m);
      expect(r.stdout).toMatch(/only now/i);
    });
  });

  describe('usage and configuration errors: a clear message and exit code 2', () => {
    const cases: [string, string[], RegExp, Record<string, string>?][] = [
      ['a non-numeric --port', ['serve', '--port', 'abc'], /--port.*abc|port/],
      ['an out-of-range --port', ['serve', '--port', '70000'], /port/],
      ['a non-numeric PORT', ['serve'], /PORT.*abc/, { PORT: 'abc' }],
      ['an unknown option', ['serve', '--bogus'], /unknown option '--bogus'/],
      ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
      ['an invalid --log-level', ['serve', '--log-level', 'loud'], /logLevel/],
      ['--tls-cert without --tls-key', ['serve', '--tls-cert', '/etc/hostname'], /--tls-cert and --tls-key/],
      ['an unreadable --tls-cert', ['serve', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], /--tls-cert \/nonexistent\/cert\.pem/],
      ['a missing config file', ['serve', '--config', '/nonexistent/bulwark.yaml'], /cannot read config file \/nonexistent\/bulwark\.yaml/],
      ['a database URL that is not postgres', ['serve', '--database-url', 'mysql://x'], /databaseUrl/],
      ['token without --role', ['token', '--tenant', 'x'], /--role/],
      ['token with an invalid --tenant', ['token', '--tenant', 'bad tenant!', '--role', read], /--tenant 'bad tenant!'/],
      ['token with a bad --lifetime', ['token', '--tenant', 'x', '--role', read, '--lifetime', '5'], /--lifetime/],
      ['apps create with an unknown --role', ['apps', 'create', '--tenant', 'x', '--name', 'n', '--role', 'Bogus.Role'], /Bogus\.Role/],
      ['apps create without --name', ['apps', 'create', '--tenant', 'x', '--role', read], /--name/],
    ];
    for (const [label, args, message, env] of cases) {
      it(label, async ({ expect }) => {
        const dataDir = dir();
        const r = await runCli([...args, ...(args[0] === 'frobnicate' || args.includes('--data-dir') ? [] : ['--data-dir', dataDir])], { env: env ?? {} });
        expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        // refused before anything was started or written
        expect(r.stdout).not.toContain('listening');
      });
    }

    it('an invalid config file names the file and the offending setting', async ({ expect }) => {
      const d = dir();
      const file = path.join(d, 'bulwark.yaml');
      fs.writeFileSync(file, 'port: "eighty"\nguardrails:\n  includeDefaults: maybe\n');
      const r = await runCli(['serve', '--config', file, '--data-dir', d]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(/port/);
      expect(r.stderr).toMatch(/guardrails\.includeDefaults/);
      const broken = path.join(d, 'broken.yaml');
      fs.writeFileSync(broken, 'port: [1,\n');
      const r2 = await runCli(['serve', '--config', broken, '--data-dir', d]);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toContain(`cannot parse config file ${broken}`);
    });
  });
});
