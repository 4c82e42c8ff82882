import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { onCleanup, removeDir, trackChild, trackDir } from './cleanup.js';
import { freePort, sleep } from './util.js';

const run = promisify(execFile);

export interface Unbound {
  port: number;
  /** `unbound-control auth_zone_transfer <zone>` over the control socket (no process start) */
  transfer(zone: string): Promise<void>;
  /** `unbound-control list_auth_zones`: zone → serial */
  zones(): Promise<Map<string, number | null>>;
  /** `dig @127.0.0.1 -p PORT name` rcode text, for the sanity checks */
  dig(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real Unbound on a free loopback port: `zone` is served from an auth-zone (`*.zone A 192.0.2.10`,
 * no internet needed; Unbound applies RPZ to auth-zone answers, not to local-data), and the RPZ
 * `rpzName` is loaded over HTTP from `rpzUrl` (Unbound's `url:`; `?token=` is kept).
 */
export async function startUnbound(o: { zone: string; rpzName: string; rpzUrl: string }): Promise<Unbound> {
  const dir = trackDir(fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-bench-unbound-')));
  const zoneFile = path.join(dir, 'zone.db');
  const socket = path.join(dir, 'control.sock');
  const conf = path.join(dir, 'unbound.conf');
  fs.writeFileSync(zoneFile, [`$TTL 60`, `@ IN SOA ns.${o.zone}. hostmaster.${o.zone}. 1 3600 600 86400 60`, `@ IN NS ns.${o.zone}.`, 'ns IN A 127.0.0.1', '* IN A 192.0.2.10', ''].join('\n'));
  const port = await freePort(true);
  const q = (s: string) => `"${s}"`;
  fs.writeFileSync(
    conf,
    [
      'server:', '  interface: 127.0.0.1', `  port: ${port}`, '  do-daemonize: no', '  username: ""', '  chroot: ""', `  directory: ${q(dir)}`,
      `  pidfile: ${q(path.join(dir, 'unbound.pid'))}`, '  use-syslog: no', '  logfile: ""', '  verbosity: 1', '  num-threads: 1', '  so-reuseport: no',
      '  access-control: 127.0.0.0/8 allow', '  do-not-query-localhost: no', `  local-zone: ${q(`${o.zone.split('.').at(-1)}.`)} nodefault`,
      '  module-config: "respip iterator"',
      'auth-zone:', `  name: ${q(`${o.zone}.`)}`, `  zonefile: ${q(zoneFile)}`, '  for-downstream: yes', '  for-upstream: yes',
      'rpz:', `  name: ${q(o.rpzName)}`, `  url: ${q(o.rpzUrl)}`, `  zonefile: ${q(path.join(dir, 'rpz.cache'))}`,
      'remote-control:', '  control-enable: yes', `  control-interface: ${q(socket)}`, '  control-use-cert: no', '',
    ].join('\n'),
  );
  let output = '';
  const child = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  child.stdout.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
  child.stderr.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));

  const control = (command: string) =>
    new Promise<string>((resolve, reject) => {
      // unbound-control's wire format: "UBCT<version> " then " <arg>" per argument, then a newline.
      const s = net.connect(socket);
      let out = '';
      s.on('connect', () => s.write(`UBCT1  ${command}\n`));
      s.on('data', (b: Buffer) => (out += b.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
      s.setTimeout(5000, () => s.destroy(new Error(`unbound control '${command}' timed out`)));
    });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    removeDir(dir);
  };
  onCleanup('unbound', stop);

  const zones = async () => {
    const map = new Map<string, number | null>();
    for (const line of (await control('list_auth_zones')).split('\n')) {
      const m = /^(\S+?)\.?\s+(?:serial (\d+)|no serial)/.exec(line.trim());
      if (m?.[1]) map.set(m[1], m[2] === undefined ? null : Number(m[2]));
    }
    return map;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`unbound exited:\n${output.slice(-2000)}`);
    const ok = await control('status').then((s) => /is running/.test(s), () => false);
    if (ok && (await zones()).get(o.rpzName.replace(/\.$/, '')) != null) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`unbound did not load the RPZ from ${o.rpzUrl.replace(/token=[^&]+/, 'token=…')}:\n${output.slice(-2000)}`);
    }
    await sleep(50);
  }
  return {
    port,
    zones,
    async transfer(zone) {
      const out = await control(`auth_zone_transfer ${zone.endsWith('.') ? zone : `${zone}.`}`);
      if (!/^ok/.test(out.trim())) throw new Error(`auth_zone_transfer: ${out.trim()}`);
    },
    async dig(name) {
      const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+tries=1', '+time=2', name, 'A'], { timeout: 10_000 });
      return /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'no status';
    },
    stop,
  };
}
