import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, freePort, repoRoot, spawnUntilReady, type Exit } from '../helpers/process.js';

export { cleanEnv, freePort, repoRoot };

const bin = path.join(repoRoot, 'bin/bulwark.js');

export function tempDir(prefix = 'bulwark-cli-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}


export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `bulwark <args>` to completion; never throws on a non-zero exit. */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return runToEnd(process.execPath, [bin, ...args], { cwd: options.cwd ?? repoRoot, env: cleanEnv(options.env) }, options.timeoutMs ?? 20_000);
}

/** Runs a command to its exit (SIGKILL after `timeoutMs`), collecting its output. */
function runToEnd(command: string, args: string[], spawnOptions: { cwd: string; env: NodeJS.ProcessEnv }, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export interface BulwarkProcess {
  child: ChildProcess;
  /** the URL the process said it listens on */
  url: string;
  stdout(): string;
  stderr(): string;
  /** resolves when the process has exited */
  exited: Promise<Exit>;
  /** SIGTERM (or the given signal) and wait for the exit */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/**
 * Starts `bulwark serve <args>` and waits for its "listening on" line. Rejects with the output if
 * the process exits first or does not announce itself in time.
 */
export function startServe(args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<BulwarkProcess> {
  return startListening(process.execPath, [bin, 'serve', ...args], options);
}

/** Starts any command that runs the service (e.g. `npm start -- …`) and waits for its "listening on" line. */
export async function startListening(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; processGroup?: boolean } = {},
): Promise<BulwarkProcess> {
  const p = await spawnUntilReady(command, args, {
    ready: /Bulwark listening on (\S+)/,
    timeoutMs: options.timeoutMs ?? 20_000,
    env: cleanEnv(options.env),
    cwd: options.cwd,
    processGroup: options.processGroup,
  });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    p.kill(signal);
    return p.exited;
  };
  return { child: p.child, url: p.ready[1]!, stdout: p.stdout, stderr: p.stderr, exited: p.exited, stop };
}

/** `bulwark token` against a data dir (and optional PostgreSQL); returns the token. */
export async function cliToken(storage: string[], tenant: string, roles: string[], extra: string[] = []): Promise<string> {
  const r = await runCli(['token', '--tenant', tenant, ...roles.flatMap((x) => ['--role', x]), ...storage, ...extra]);
  if (r.code !== 0) throw new Error(`bulwark token failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

/** Runs `npx --no-install bulwark <args>` from the repository, as the README tells users to. */
export function runNpx(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return runToEnd('npx', ['--no-install', 'bulwark', ...args], { cwd: repoRoot, env: cleanEnv() }, options.timeoutMs ?? 50_000);
}
