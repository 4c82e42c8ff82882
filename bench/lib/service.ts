import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { onCleanup, trackChild } from './cleanup.js';
import { storeArgs, type Store } from './store.js';
import { log, sleep } from './util.js';

const run = promisify(execFile);
/** dist/bench/lib/ → repository root */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const launcher = path.join(repoRoot, 'bin', 'bulwark.js');

/** The environment without any setting that would point the service somewhere else (DATABASE_URL, PORT, BULWARK_*). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (/^(BULWARK_|DATABASE_URL$|HOST$|PORT$)/.test(key)) delete env[key];
  return env;
}

/** Runs a `bulwark` CLI command against the bench store; returns stdout. */
export async function bulwark(store: Store, args: string[]): Promise<string> {
  const config = path.join(store.dataDir, configName);
  const withConfig = fs.existsSync(config) ? ['--config', config] : [];
  const { stdout } = await run(process.execPath, [launcher, ...args, ...withConfig, ...storeArgs(store)], { env: cleanEnv(), cwd: repoRoot, timeout: 60_000, maxBuffer: 16 << 20 });
  return stdout;
}

export function spawnBulwark(args: string[], logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [launcher, ...args], { env: cleanEnv(), cwd: repoRoot, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  trackChild(child);
  return child;
}

export interface ServiceOptions {
  store: Store;
  port: number;
  configFile: string;
  logLevel: string;
  /** write a V8 CPU profile (.cpuprofile) into this directory when the service exits */
  cpuProfDir?: string | undefined;
  /** `serve --no-engine` */
  noEngine?: boolean;
  /** preload lib/sql-timing.js: per-statement SQL time, written to `<dataDir>/sql-stats-<pid>.json` at exit */
  sqlStats?: boolean;
  /** `serve --api-processes N` */
  apiProcesses?: number;
}

/** `node bin/bulwark.js serve` as a separate process on loopback, with its own data dir. */
export class Service {
  private starts = 0;
  private child?: ChildProcess;
  readonly url: string;
  /** every process started, with what ran in it (labels CPU profiles, which carry the pid) */
  readonly history: { pid: number; what: string[]; sqlStats?: string | undefined }[] = [];

  constructor(private readonly o: ServiceOptions) {
    this.url = `http://127.0.0.1:${o.port}`;
    onCleanup('bulwark service', () => this.stop());
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error('the service is not running');
    return this.child.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get logFile(): string {
    return path.join(this.o.store.dataDir, `service-${this.starts}.log`);
  }

  async start(): Promise<void> {
    this.starts++;
    const node = this.o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${this.o.cpuProfDir}`] : [];
    const env = cleanEnv();
    if (this.o.sqlStats) {
      node.push('--import', new URL('./sql-timing.js', import.meta.url).href);
      env['BULWARK_BENCH_SQL_STATS'] = path.join(this.o.store.dataDir, `sql-stats-${this.starts}.json`);
    }
    const args = ['serve', '--host', '127.0.0.1', '--port', String(this.o.port), '--config', this.o.configFile, '--log-level', this.o.logLevel, ...(this.o.noEngine ? ['--no-engine'] : []), '--api-processes', String(this.o.apiProcesses ?? 1), ...storeArgs(this.o.store)];
    const out = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [...node, launcher, ...args], { env, cwd: repoRoot, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    trackChild(child);
    this.child = child;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const ok = await fetch(`${this.url}/readyz`).then((r) => r.ok, () => false);
      if (ok) {
        this.history.push({ pid: child.pid!, what: [], sqlStats: env['BULWARK_BENCH_SQL_STATS'] });
        return;
      }
      await sleep(50);
    }
    const tail = fs.readFileSync(this.logFile, 'utf8').slice(-3000);
    await this.stop();
    throw new Error(`the service did not become ready:\n${tail}`);
  }

  /** Notes what ran in the current process. */
  mark(what: string): void {
    this.history.at(-1)?.what.push(what);
  }

  /** Answers /healthz within `timeoutMs` (a blocked event loop does not). */
  responsive(timeoutMs = 3000): Promise<boolean> {
    return fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) }).then((r) => r.ok, () => false);
  }

  /** SIGTERM (graceful: the CPU profile is written), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      log('service did not stop within 15 s; SIGKILL');
      child.kill('SIGKILL');
    }, 15_000);
    await exited;
    clearTimeout(timer);
  }

  /** SIGKILL (for a service that no longer reacts to SIGTERM). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }
}

const configName = 'bench-config.json';

/** The service's configuration: the default feeds provider plus an agent provider for nftables. */
export function writeServiceConfig(store: Store, sqliteSynchronous?: string, listCache = true): string {
  const file = path.join(store.dataDir, configName);
  const config = {
    ...(sqliteSynchronous ? { sqliteSynchronous } : {}),
    ...(listCache ? {} : { listCache: { megabytes: 0 } }),
    providers: [
      { type: 'feeds', provider: 'feeds' },
      { type: 'agent', provider: 'nftables' },
    ],
    defaultProvider: 'feeds',
  };
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}
