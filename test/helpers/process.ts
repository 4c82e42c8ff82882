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

/**
 * Starts `node bin/bulwark.js <command> --host 127.0.0.1 --port <port> …args` with a clean
 * environment and waits until it is ready: `serve` prints "Bulwark listening on", `worker` (the
 * engine without the API) "Bulwark worker running". Rejects with the process output when it exits
 * first or is not ready within `timeoutMs`.
 */
export async function startBulwark(options: { args: string[]; port?: number; command?: 'serve' | 'worker'; timeoutMs?: number }): Promise<BulwarkProcess> {
  ensureBuilt();
  const port = options.port ?? (await freePort());
  const child: ChildProcess = spawn(process.execPath, [launcher, options.command ?? 'serve', '--host', '127.0.0.1', '--port', String(port), ...options.args], {
    cwd: repoRoot,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (b: Buffer) => {
    out += b.toString('utf8');
    if (out.length > 262_144) out = out.slice(-262_144);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn bulwark');

  const timeoutMs = options.timeoutMs ?? 30_000;
  const ready = options.command === 'worker' ? /Bulwark worker running/ : /Bulwark listening on /;
  const listening = await Promise.race([
    new Promise<true>((resolve) => {
      const check = () => {
        if (ready.test(out)) {
          child.stdout!.off('data', check);
          resolve(true);
        }
      };
      child.stdout!.on('data', check);
      check();
    }),
    exited.then((e) => e),
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref()),
  ]);
  if (listening !== true) {
    child.kill('SIGKILL');
    throw new Error(`bulwark ${options.command ?? 'serve'} ${listening === 'timeout' ? `was not ready within ${timeoutMs} ms` : `exited (${JSON.stringify(listening)}) before it was ready`}:\n${out}`);
  }

  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    exited,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      return exited;
    },
    async terminate(timeout = 30_000) {
      const started = Date.now();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
      const e = await exited;
      clearTimeout(timer);
      return { ...e, ms: Date.now() - started };
    },
  };
}

function cleanEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp' };
}
