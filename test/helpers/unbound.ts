import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestService } from './service.js';
import { freePort } from '../../bench/lib/util.js';

const run = promisify(execFile);

export interface DigAnswer {
  name: string;
  ttl: number;
  type: string;
  data: string;
}

export interface DigResult {
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED … */
  rcode: string;
  answers: DigAnswer[];
  /** the A/AAAA addresses among the answers */
  addresses: string[];
}

export interface UnboundOptions {
  /** the test domain served from a local auth-zone, e.g. `example.test` */
  zone: string;
  /** owner name (relative to `zone`) → IPv4 address */
  records: Record<string, string>;
  /** RPZ zones fetched over HTTP (`url:`), in policy order */
  rpz: { name: string; url: string }[];
  /** absolute paths from requireTools(); defaults to the names on PATH */
  tools?: Record<string, string>;
  /** Unbound log verbosity (default 1: errors, notices and rpz-log lines) */
  verbosity?: number;
}

export interface Unbound {
  port: number;
  dir: string;
  /** `dig @127.0.0.1 -p PORT +tries=1 +time=2 <name> <type>` */
  dig(name: string, type?: string): Promise<DigResult>;
  /** `unbound-control list_auth_zones`: zone (without trailing dot) → serial, null = not loaded */
  zones(): Promise<Map<string, number | null>>;
  /** `unbound-control auth_zone_transfer <zone>`: re-fetch at once */
  transfer(zone: string): Promise<void>;
  /**
   * Triggers a transfer and waits until the zone's served serial is at least `serial` (re-triggering
   * every 250 ms in case a transfer was already under way). Returns how long it took.
   */
  refresh(zone: string, serial: number, timeoutMs?: number): Promise<number>;
  /** Unbound's own log (stderr) so far */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a real Unbound on a free loopback port with a private directory: an auth-zone with
 * `for-downstream: yes` answers the test domain without internet (Unbound does not apply RPZ to
 * local-zone/local-data answers, but does to auth-zone ones), and each `rpz` zone is loaded from
 * its `url:`. Remote control is a unix socket without certificates.
 */
export async function startUnbound(options: UnboundOptions): Promise<Unbound> {
  const unboundBin = options.tools?.['unbound'] ?? 'unbound';
  const controlBin = options.tools?.['unbound-control'] ?? 'unbound-control';
  const digBin = options.tools?.['dig'] ?? 'dig';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-unbound-'));
  const zone = options.zone.replace(/\.$/, '');
  const zoneFile = path.join(dir, `${zone}.zone`);
  fs.writeFileSync(
    zoneFile,
    [
      '$TTL 60',
      `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
      `@ IN NS ns.${zone}.`,
      'ns IN A 127.0.0.1',
      ...Object.entries(options.records).map(([name, address]) => `${name} IN A ${address}`),
      '',
    ].join('\n'),
  );
  const confFile = path.join(dir, 'unbound.conf');
  const control = ['-c', confFile];

  let child: ChildProcess | undefined;
  let output = '';
  let port = 0;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort(true); // UDP and TCP: Unbound cannot be told to pick one
    fs.writeFileSync(confFile, config({ dir, port, zone, zoneFile, rpz: options.rpz, verbosity: options.verbosity }));
    const proc = spawn(unboundBin, ['-d', '-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let exited = false;
    proc.once('exit', () => (exited = true));
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const deadline = Date.now() + 10_000;
    let ready = false;
    while (!exited && Date.now() < deadline) {
      ready = await run(controlBin, [...control, 'status'], { timeout: 2000 }).then(() => true, () => false);
      if (ready) break;
      await delay(25);
    }
    if (ready && !exited) child = proc;
    else {
      proc.kill('SIGKILL');
      if (!/could not open ports|bind: address already in use/i.test(output)) {
        throw new Error(`unbound did not start on port ${port}:\n${output.slice(-2000)}`);
      }
    }
  }
  if (!child) throw new Error(`unbound could not get a free port:\n${output.slice(-2000)}`);
  const proc = child;
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);

  const zones = async () => {
    const { stdout } = await run(controlBin, [...control, 'list_auth_zones'], { timeout: 5000 });
    const map = new Map<string, number | null>();
    for (const line of stdout.split('\n')) {
      const m = /^(\S+?)\.?\s+(?:serial (\d+)|no serial)/.exec(line.trim());
      if (m?.[1]) map.set(m[1], m[2] === undefined ? null : Number(m[2]));
    }
    return map;
  };
  const transfer = async (z: string) => {
    const { stdout } = await run(controlBin, [...control, 'auth_zone_transfer', z.endsWith('.') ? z : `${z}.`], { timeout: 5000 });
    if (!/^ok/.test(stdout.trim())) throw new Error(`auth_zone_transfer ${z}: ${stdout}`);
  };

  return {
    port,
    dir,
    zones,
    transfer,
    async dig(name, type = 'A') {
      const { stdout } = await run(digBin, ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', name, type], { timeout: 10_000 });
      const rcode = /status: ([A-Z]+)/.exec(stdout)?.[1];
      if (!rcode) throw new Error(`dig ${name}: no status in\n${stdout}`);
      const answers: DigAnswer[] = [];
      const section = /;; ANSWER SECTION:\n([\s\S]*?)(?:\n\n|$)/.exec(stdout)?.[1] ?? '';
      for (const line of section.split('\n')) {
        const [owner, ttl, , rtype, ...data] = line.trim().split(/\s+/);
        if (owner && ttl && rtype) answers.push({ name: owner, ttl: Number(ttl), type: rtype, data: data.join(' ') });
      }
      return { rcode, answers, addresses: answers.filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => a.data) };
    },
    async refresh(z, serial, timeoutMs = 5000) {
      const key = z.replace(/\.$/, '');
      const started = Date.now();
      let lastTrigger = 0;
      for (;;) {
        if (Date.now() - lastTrigger >= 250) {
          lastTrigger = Date.now();
          await transfer(key);
        }
        const current = (await zones()).get(key);
        if (current !== undefined && current !== null && current >= serial) return Date.now() - started;
        if (Date.now() - started > timeoutMs) {
          throw new Error(`zone ${key} did not reach serial ${serial} within ${timeoutMs} ms (now ${current ?? 'not loaded'}):\n${output.slice(-1500)}`);
        }
        await delay(10);
      }
    },
    log: () => output,
    async stop() {
      process.removeListener('exit', killOnExit);
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function config(o: { verbosity?: number; dir: string; port: number; zone: string; zoneFile: string; rpz: { name: string; url: string }[] }): string {
  const q = (s: string) => `"${s.replace(/"/g, '')}"`;
  return [
    'server:',
    '  interface: 127.0.0.1',
    `  port: ${o.port}`,
    '  do-daemonize: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: ${q(o.dir)}`,
    `  pidfile: ${q(path.join(o.dir, 'unbound.pid'))}`,
    '  use-syslog: no',
    '  logfile: ""',
    `  verbosity: ${o.verbosity ?? 1}`,
    '  num-threads: 1',
    '  so-reuseport: no',
    '  access-control: 127.0.0.0/8 allow',
    '  do-not-query-localhost: no',
    // `test.` is a special-use domain Unbound answers NXDOMAIN for by default (a local-zone).
    `  local-zone: ${q(`${o.zone.split('.').at(-1)}.`)} nodefault`,
    '  module-config: "respip iterator"',
    'auth-zone:',
    `  name: ${q(`${o.zone}.`)}`,
    `  zonefile: ${q(o.zoneFile)}`,
    '  for-downstream: yes',
    '  for-upstream: yes',
    ...o.rpz.flatMap((r) => ['rpz:', `  name: ${q(r.name.endsWith('.') ? r.name : `${r.name}.`)}`, `  url: ${q(r.url)}`, '  rpz-log: yes', `  rpz-log-name: ${q(r.name)}`]),
    'remote-control:',
    '  control-enable: yes',
    `  control-interface: ${q(path.join(o.dir, 'control.sock'))}`,
    '  control-use-cert: no',
    '',
  ].join('\n');
}


const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A read-only feed credential for a tenant, minted by the service's own CredentialService. */
export async function createFeedToken(svc: TestService, tenantId: string, name = 'e2e-reader'): Promise<string> {
  return (await svc.credentials().createFeedCredential(tenantId, name)).token;
}
