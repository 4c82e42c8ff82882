import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'vitest';

/** CI sets this: a missing tool or capability is then a failure, not a skip. */
export const e2eRequired = process.env['BULWARK_E2E_REQUIRED'] === '1';

/** Absolute path of an executable on PATH (plus the sbin directories, which non-root PATHs lack), or undefined. */
export function requireTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface Requirement {
  ok: boolean;
  /** what is missing, for the skip/failure message */
  reason: string;
}

/**
 * Whether network-namespace tests can run here: `ip` and `nft` installed, and a namespace can be
 * created and hold an nftables table (needs root / CAP_NET_ADMIN + CAP_SYS_ADMIN).
 */
export function netnsRequirement(): Requirement {
  const missing = ['ip', 'nft'].filter((t) => !requireTool(t));
  if (missing.length > 0) return { ok: false, reason: `${missing.join(' and ')} not installed (apt-get install -y iproute2 nftables)` };
  const probe = `bwk-probe-${randomBytes(3).toString('hex')}`;
  try {
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'exec', probe, requireTool('nft')!, 'add table inet bwkprobe']);
    return { ok: true, reason: '' };
  } catch (e) {
    return { ok: false, reason: `cannot create a network namespace with an nftables table (root with CAP_NET_ADMIN/CAP_SYS_ADMIN needed): ${(e as Error).message.split('\n')[0]}` };
  } finally {
    try {
      run('ip', ['netns', 'del', probe]);
    } catch {
      // was never created
    }
  }
}

/**
 * `describe` that runs only when `req.ok`. Otherwise it is skipped with the reason in its title,
 * or, when `BULWARK_E2E_REQUIRED=1`, replaced by a failing test naming what is missing, so that a
 * CI runner without the tools cannot pass by skipping.
 */
export function describeRequiring(req: Requirement, title: string, body: () => void): void {
  if (req.ok) describe(title, body);
  else if (e2eRequired) describe(title, () => it(`requires: ${req.reason}`, () => {
    throw new Error(`BULWARK_E2E_REQUIRED=1 but ${req.reason}`);
  }));
  else {
    // The default reporter shows only counts for skipped files: say why on stderr as well.
    console.warn(`SKIPPED ${title}: ${req.reason} (set BULWARK_E2E_REQUIRED=1 to make this a failure)`);
    describe.skip(`${title} — skipped: ${req.reason}`, body);
  }
}

/** Runs a command synchronously; throws with its stderr. */
export function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

const nsRun = (ns: string, cmd: string, args: string[]) => run('ip', ['netns', 'exec', ns, cmd, ...args]);

/**
 * Two namespaces joined by a veth pair — `client` and `enforcer` (the firewall host, where the
 * agent and a TCP listener run) — plus a management veth from the root namespace into the
 * enforcer, so the agent reaches a service started by the test in the root namespace the way a
 * real firewall reaches its controller over a management interface. Names are unique per run.
 */
export interface NetnsLab {
  id: string;
  client: string;
  enforcer: string;
  /** enforcer's address on the data link */
  enforcerAddress: string;
  enforcerAddress6: string;
  /** root-namespace end of the management link: listen here */
  managementAddress: string;
  /** adds an address to the client's data interface (IPv4 /16 or IPv6 /64, on-link) */
  addClientAddress(address: string): void;
  /** starts a process inside a namespace; it is killed by `cleanup()` */
  spawnIn(ns: string, cmd: string, args: string[], options?: { env?: NodeJS.ProcessEnv }): ChildProcess;
  exec(ns: string, cmd: string, args: string[]): string;
  cleanup(): Promise<void>;
}

export function createNetnsLab(): NetnsLab {
  const id = randomBytes(3).toString('hex');
  const client = `bwk-${id}-client`;
  const enforcer = `bwk-${id}-fw`;
  const mgmtRoot = `bwk${id}m`;
  const children = new Set<ChildProcess>();
  const management = freeManagementSubnet();
  const lab: NetnsLab = {
    id,
    client,
    enforcer,
    enforcerAddress: '10.66.0.1',
    enforcerAddress6: 'fd00:66::1',
    managementAddress: management.root,
    addClientAddress(address) {
      const v6 = address.includes(':');
      nsRun(client, 'ip', [...(v6 ? ['-6'] : []), 'addr', 'add', `${address}/${v6 ? 64 : 16}`, 'dev', 'data', ...(v6 ? ['nodad'] : [])]);
    },
    spawnIn(ns, cmd, args, options = {}) {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    exec: nsRun,
    async cleanup() {
      await Promise.all([...children].map((c) => stopProcess(c, 2000)));
      for (const ns of [client, enforcer]) {
        try {
          run('ip', ['netns', 'del', ns]);
        } catch {
          // never created
        }
      }
      try {
        run('ip', ['link', 'del', mgmtRoot]); // normally gone with its peer's namespace
      } catch {
        // already gone
      }
      process.off('exit', lastResort);
    },
  };
  // If the worker dies before afterAll, do not leave namespaces and veths behind.
  const lastResort = () => {
    for (const c of children) c.kill('SIGKILL');
    for (const ns of [client, enforcer]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // gone
      }
    }
  };
  process.on('exit', lastResort);
  try {
    run('ip', ['netns', 'add', client]);
    run('ip', ['netns', 'add', enforcer]);
    // Create both veth pairs directly inside their namespaces: no name clashes in the root namespace.
    run('ip', ['link', 'add', 'data', 'netns', client, 'type', 'veth', 'peer', 'name', 'data', 'netns', enforcer]);
    run('ip', ['link', 'add', mgmtRoot, 'type', 'veth', 'peer', 'name', 'mgmt', 'netns', enforcer]);
    run('ip', ['addr', 'add', `${management.root}/30`, 'dev', mgmtRoot]);
    run('ip', ['link', 'set', mgmtRoot, 'up']);
    nsRun(enforcer, 'ip', ['addr', 'add', `${management.enforcer}/30`, 'dev', 'mgmt']);
    nsRun(enforcer, 'ip', ['addr', 'add', `${lab.enforcerAddress}/16`, 'dev', 'data']);
    nsRun(enforcer, 'ip', ['-6', 'addr', 'add', `${lab.enforcerAddress6}/64`, 'dev', 'data', 'nodad']);
    nsRun(client, 'ip', ['addr', 'add', '10.66.0.2/16', 'dev', 'data']);
    for (const ns of [client, enforcer]) {
      // No Duplicate Address Detection: the link-local addresses neighbour discovery uses would
      // stay tentative for a second or two after the link comes up, and the first IPv6 probe fail.
      nsRun(ns, 'sh', ['-c', 'for f in all default data; do echo 0 > /proc/sys/net/ipv6/conf/$f/accept_dad; done']);
      nsRun(ns, 'ip', ['link', 'set', 'lo', 'up']);
      nsRun(ns, 'ip', ['link', 'set', 'data', 'up']);
    }
    nsRun(enforcer, 'ip', ['link', 'set', 'mgmt', 'up']);
  } catch (e) {
    lastResort();
    process.off('exit', lastResort);
    throw e;
  }
  return lab;
}

/** A /30 in 10.200.0.0/13 that no interface of the root namespace uses yet. */
function freeManagementSubnet(): { root: string; enforcer: string } {
  const used = run('ip', ['-4', '-o', 'addr', 'show']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const b = randomBytes(3);
    const prefix = `10.${200 + (b[0]! % 8)}.${b[1]}`;
    const base = (b[2]! % 64) * 4;
    if (used.includes(` ${prefix}.`)) continue;
    return { root: `${prefix}.${base + 1}`, enforcer: `${prefix}.${base + 2}` };
  }
  throw new Error('no free management subnet in 10.200.0.0/13');
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null if killed by a signal). */
export function stopProcess(child: ChildProcess, graceMs = 5000, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill(signal);
  });
}

/** A TCP listener inside a namespace (IPv4 and IPv6) that accepts and closes every connection. */
export async function startListener(lab: NetnsLab, ns: string, port: number): Promise<ChildProcess> {
  const code = `const s=require('net').createServer(c=>c.end());s.listen({port:${port},host:'::',ipv6Only:false},()=>console.log('ready'));`;
  const child = lab.spawnIn(ns, process.execPath, ['-e', code]);
  await captureLines(child).waitFor((l) => l === 'ready', 10_000);
  return child;
}

export interface ProbeResult {
  ok: boolean;
  error?: string;
  ms: number;
}

/**
 * A long-lived prober inside a namespace: `connect(from, to, port)` opens a real TCP connection
 * from a given source address and reports whether the handshake completed within the timeout.
 * One process for all probes (≈ 1 ms each) instead of a `ip netns exec` per probe.
 */
export async function startProber(lab: NetnsLab, ns: string): Promise<{ connect(from: string, to: string, port: number, timeoutMs?: number): Promise<ProbeResult>; process: ChildProcess }> {
  const code = `
const net=require('net');const rl=require('readline').createInterface({input:process.stdin});
rl.on('line',l=>{const r=JSON.parse(l);const t0=Date.now();let done=false;
const s=net.connect({host:r.to,port:r.port,localAddress:r.from});
const fin=(ok,error)=>{if(done)return;done=true;clearTimeout(t);s.destroy();process.stdout.write(JSON.stringify({id:r.id,ok,error,ms:Date.now()-t0})+'\\n');};
const t=setTimeout(()=>fin(false,'timeout'),r.timeoutMs);
s.on('connect',()=>fin(true));s.on('error',e=>fin(false,e.code||e.message));});
console.log('ready');`;
  const child = lab.spawnIn(ns, process.execPath, ['-e', code]);
  const pending = new Map<number, (r: ProbeResult) => void>();
  let nextId = 0;
  const lines = createInterface({ input: child.stdout! });
  const ready = new Promise<void>((resolve) =>
    lines.on('line', (line) => {
      if (line === 'ready') return resolve();
      const r = JSON.parse(line) as ProbeResult & { id: number };
      pending.get(r.id)?.(r);
      pending.delete(r.id);
    }),
  );
  await Promise.race([ready, delay(10_000).then(() => Promise.reject(new Error('prober did not start')))]);
  return {
    process: child,
    connect(from, to, port, timeoutMs = 600) {
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        child.stdin!.write(`${JSON.stringify({ id, from, to, port, timeoutMs })}\n`);
      });
    },
  };
}

/** Every stdout line of a process, kept (the pipe is always drained) and awaitable. */
export interface LineLog {
  lines: string[];
  /** the first line from index `from` on that matches, waiting for it if needed */
  waitFor(test: (line: string) => boolean, timeoutMs: number, from?: number): Promise<string>;
}

export function captureLines(child: ChildProcess): LineLog {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters) w();
  });
  child.once('exit', () => {
    for (const w of waiters) w();
  });
  return {
    lines,
    waitFor(test, timeoutMs, from = 0) {
      return new Promise((resolve, reject) => {
        let checked = from;
        const check = () => {
          for (; checked < lines.length; checked++) {
            if (test(lines[checked]!)) return done(() => resolve(lines[checked]!));
          }
          if (child.exitCode !== null || child.signalCode !== null) done(() => reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before the expected output`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no matching output within ${timeoutMs} ms`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How to start the `bulwark` CLI: the built `bin/bulwark.js` when dist/ is at least as new as the
 * agent's sources, else the TypeScript sources through tsx (so a stale build is never tested).
 */
export function bulwarkCli(root: string): { cmd: string; args: string[]; label: string } {
  const built = join(root, 'dist/src/cli/agent-command.js');
  const sources = [
    ...['src/cli/main.ts', 'src/cli/common.ts', 'src/cli/agent-command.ts', 'src/domain/indicators/ip.ts'].map((f) => join(root, f)),
    ...readdirSync(join(root, 'src/agent')).map((f) => join(root, 'src/agent', f)),
  ];
  const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
  let fresh = false;
  try {
    fresh = statSync(built).mtimeMs >= newest;
  } catch {
    fresh = false;
  }
  if (fresh) return { cmd: process.execPath, args: [join(root, 'bin/bulwark.js')], label: 'dist (bin/bulwark.js)' };
  const entry = `const { run } = await import(${JSON.stringify(join(root, 'src/cli/main.ts'))}); await run(['node', 'bulwark', ...process.argv.slice(1)]);`;
  return { cmd: process.execPath, args: ['--import', 'tsx', '--input-type=module', '-e', entry, '--'], label: 'sources via tsx (dist is older than src/agent)' };
}
