import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/process.ts). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const launcher = path.join(repoRoot, 'bin/bulwark.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A real `node bin/bulwark.js …` process. */
export interface BulwarkProcess {
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** stdout and stderr so far (the last 256 KiB) */
  output(): string;
  readonly exited: Promise<Exit>;
  /** SIGKILL; resolves once the process is gone. */
  kill9(): Promise<Exit>;
  /** SIGTERM; resolves with how it exited and how long that took. */
  terminate(timeoutMs?: number): Promise<Exit & { ms: number }>;
}

/** A TCP port nobody listens on right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `bin/bulwark.js` runs the compiled CLI in `dist/`. Rebuilds it when any source file is newer than
 * its output (as `npm test` does before running), so process tests exercise the current code.
 * A lock directory keeps parallel test files from building at the same time.
 */
export function ensureBuilt(): void {
  if (!isStale()) return;
  const lock = path.join(repoRoot, 'dist', '.test-build-lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} is held for 2 minutes; remove it if no build is running`);
      spawnSync('sleep', ['0.2']);
    }
  }
  try {
    // A few tries: a source file saved while tsc runs is newer than its fresh output.
    for (let attempt = 0; attempt < 3 && isStale(); attempt++) {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: repoRoot, encoding: 'utf8' });
      if (attempt === 2 && isStale()) throw new Error(`building dist/ left ${staleFiles().join(', ')} stale:\n${r.stdout}\n${r.stderr}`);
    }
  } finally {
    fs.rmdirSync(lock);
  }
}

const isStale = () => staleFiles().length > 0;

function staleFiles(): string[] {
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
  return walk(path.join(repoRoot, 'src')).filter((file) => {
    const out = path.join(repoRoot, 'dist', path.relative(repoRoot, file)).replace(/\.ts$/, '.js');
    const built = fs.statSync(out, { throwIfNoEntry: false });
    return !built || built.mtimeMs < fs.statSync(file).mtimeMs;
  });
}

/**
 * Runs a `bulwark` CLI command to completion with a clean environment (`PATH`, `HOME`) and returns
 * its stdout; throws with its output when it exits non-zero.
 */
export function runBulwark(args: string[], timeoutMs = 30_000): string {
  ensureBuilt();
  const r = spawnSync(process.execPath, [launcher, ...args], { cwd: repoRoot, env: cleanEnv(), encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`bulwark ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A spawned process that has printed its ready line (see `spawnUntilReady`). */
export interface ReadyProcess {
  readonly child: ChildProcess;
  /** the ready pattern's match on stdout */
  readonly ready: RegExpExecArray;
  stdout(): string;
  stderr(): string;
  /** stdout and stderr interleaved as they arrived */
  output(): string;
  /** resolves once the process has exited and closed its output */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (to the whole process group with `processGroup`) unless the process has exited. */
  kill(signal: NodeJS.Signals): void;
}

/**
 * Spawns `command args` and waits until its stdout matches `ready`. Rejects with the process
 * output (and kills it) when it exits first or does not match within `timeoutMs`. With
 * `processGroup` it runs in a group of its own and signals go to the whole group (npm → sh → node),
 * as a terminal's Ctrl-C would. `keep` caps each captured output at its last so many characters.
 */
export function spawnUntilReady(
  command: string,
  args: string[],
  options: { ready: RegExp; timeoutMs: number; env: NodeJS.ProcessEnv; cwd?: string; processGroup?: boolean; keep?: number },
): Promise<ReadyProcess> {
  const child = spawn(command, args, { cwd: options.cwd ?? repoRoot, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.processGroup ?? false });
  const keep = options.keep ?? Infinity;
  const out = { stdout: '', stderr: '', all: '' };
  const append = (stream: 'stdout' | 'stderr') => (b: Buffer) => {
    const text = b.toString('utf8');
    out[stream] += text;
    out.all += text;
    if (out[stream].length > keep) out[stream] = out[stream].slice(-keep);
    if (out.all.length > keep) out.all = out.all.slice(-keep);
  };
  child.stdout.on('data', append('stdout'));
  child.stderr.on('data', append('stderr'));
  const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const kill = (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (options.processGroup && child.pid) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        /* the group is gone already */
      }
    } else child.kill(signal);
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', check);
      kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} ${why}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${options.timeoutMs} ms`), options.timeoutMs);
    timer.unref();
    function check() {
      const ready = options.ready.exec(out.stdout);
      if (!ready || settled) return;
      settled = true;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve({ child, ready, stdout: () => out.stdout, stderr: () => out.stderr, output: () => out.all, exited, kill });
    }
    child.stdout.on('data', check);
    child.once('error', (e) => fail(`could not be started: ${e.message}`));
    void exited.then((e) => fail(`exited (${e.code ?? e.signal}) before it was ready`));
  });
}

/**
 * Starts `node bin/bulwark.js <command> --host 127.0.0.1 --port <port> …args` with a clean
 * environment and waits until it is ready: `serve` prints "Bulwark listening on", `worker` (the
 * engine without the API) "Bulwark worker running". Rejects with the process output when it exits
 * first or is not ready within `timeoutMs`.
 */
export async function startBulwark(options: { args: string[]; port?: number; command?: 'serve' | 'worker'; timeoutMs?: number }): Promise<BulwarkProcess> {
  ensureBuilt();
  const port = options.port ?? (await freePort());
  const command = options.command ?? 'serve';
  const p = await spawnUntilReady(process.execPath, [launcher, command, '--host', '127.0.0.1', '--port', String(port), ...options.args], {
    ready: command === 'worker' ? /Bulwark worker running/ : /Bulwark listening on /,
    timeoutMs: options.timeoutMs ?? 30_000,
    env: cleanEnv(),
    keep: 262_144,
  });
  return {
    pid: p.child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    output: p.output,
    exited: p.exited,
    async kill9() {
      p.kill('SIGKILL');
      return p.exited;
    },
    async terminate(timeout = 30_000) {
      const started = Date.now();
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), timeout);
      const e = await p.exited;
      clearTimeout(timer);
      return { ...e, ms: Date.now() - started };
    },
  };
}

/** A clean environment for spawned processes: no DATABASE_URL, PORT … leaking in from the runner. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...extra };
}
