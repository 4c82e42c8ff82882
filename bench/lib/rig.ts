import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { onCleanup, trackChild } from './cleanup.js';
import type { BenchContext } from './context.js';
import { DnsClient } from './dns.js';
import { request } from './http.js';
import { bulwark, repoRoot, spawnBulwark } from './service.js';
import { startUnbound, type Unbound } from './unbound.js';
import { log, sleep } from './util.js';

export const rpzName = 'rpz.bulwark.';
export const dnsZone = 'bench.test';

/**
 * The enforcement points the time-to-protect and cancel scenarios watch: a feed credential (ip.txt
 * and the change stream), a real Unbound loading rpz.zone over HTTP, and an nftables agent
 * (`bulwark agent nftables`, own table, host namespace) registered for the `nftables` provider.
 * Whatever cannot be set up is recorded with its reason, and that sub-scenario reports it.
 */
export interface Rig {
  feedToken: string;
  /** change-stream cursor of the default feeds provider, advanced by every read */
  cursor: number;
  ipEtag?: string;
  ipBody: string;
  unbound?: Unbound;
  dns?: DnsClient;
  unboundError?: string;
  agent?: ChildProcess;
  agentError?: string;
  stop(): Promise<void>;
}

export async function setupRig(ctx: BenchContext): Promise<Rig> {
  const feed = JSON.parse(await bulwark(ctx.store, ['feeds', 'credential', '--tenant', ctx.tenantId, '--name', 'bench-reader', '--json'])) as { token: string };
  const rig: Rig = { feedToken: feed.token, cursor: 0, ipBody: '', stop: async () => undefined };
  rig.cursor = (await readChanges(ctx, rig, undefined, 0)).cursor;

  try {
    rig.unbound = await startUnbound({ zone: dnsZone, rpzName, rpzUrl: `${ctx.service.url}/feeds/${ctx.tenantId}/rpz.zone?token=${rig.feedToken}` });
    rig.dns = new DnsClient(rig.unbound.port);
    const before = await rig.unbound.dig(`probe.${dnsZone}`);
    if (before !== 'NOERROR') throw new Error(`the test zone does not resolve (dig: ${before})`);
  } catch (e) {
    rig.unboundError = (e as Error).message.split('\n')[0]!;
    log(`rpz: not available: ${rig.unboundError}`);
  }

  rig.agentError = await startAgent(ctx, rig).catch((e: Error) => e.message.split('\n')[0]!);
  if (rig.agentError) log(`agent: not available: ${rig.agentError}`);

  rig.stop = async () => {
    rig.dns?.close();
    await rig.unbound?.stop();
    await stopAgent(rig.agent);
  };
  return rig;
}

async function startAgent(ctx: BenchContext, rig: Rig): Promise<string | undefined> {
  const help = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'bulwark.js'), 'agent', 'nftables', '--help'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
  if (help.code !== 0 || !/--table/.test(help.out)) return `\`bulwark agent nftables\` is not in this build (${help.out.trim().split('\n')[0]?.slice(0, 120) ?? 'no output'})`;
  if (process.getuid?.() !== 0) return 'the nftables agent needs root (CAP_NET_ADMIN)';
  const added = JSON.parse(await bulwark(ctx.store, ['agents', 'add', '--tenant', ctx.tenantId, '--provider', 'nftables', '--name', 'bench-agent', '--json'])) as { token: string };
  const tokenFile = path.join(ctx.store.dataDir, 'agent-token');
  fs.writeFileSync(tokenFile, added.token, { mode: 0o600 });
  const table = `bulwark_bench_${process.pid}`;
  const logFile = path.join(ctx.store.dataDir, 'agent.log');
  const child = spawnBulwark(
    ['agent', 'nftables', '--server', ctx.service.url, '--tenant', ctx.tenantId, '--provider', 'nftables', '--token-file', tokenFile, '--table', table, '--hook', 'input', '--cleanup'],
    logFile,
  );
  trackChild(child);
  rig.agent = child;
  onCleanup('nftables agent', () => stopAgent(child));
  onCleanup('nftables table', () => new Promise<void>((resolve) => spawn('nft', ['delete', 'table', 'inet', table], { stdio: 'ignore' }).on('exit', () => resolve()).on('error', () => resolve())));
  // Ready once it logged its first batch (the snapshot, applied and confirmed), or still running after 10 s.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return `the agent exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8').slice(-400)}`;
    if (/"msg":"batch"/.test(fs.readFileSync(logFile, 'utf8'))) return undefined;
    await sleep(50);
  }
  return undefined;
}

async function stopAgent(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

export interface Batch {
  cursor: number;
  added: { type: string; value: string }[];
  removed: { type: string; value: string }[];
}

/** One read of the feeds change stream (`wait` > 0 long-polls); advances `rig.cursor`. */
export async function readChanges(ctx: BenchContext, rig: Rig, since: number | undefined, wait: number): Promise<Batch> {
  const q = `${since === undefined ? '' : `since=${since}&`}wait=${wait}`;
  const r = await request('GET', `${ctx.service.url}/feeds/${ctx.tenantId}/changes?${q}`, { headers: { authorization: `Bearer ${rig.feedToken}` } });
  if (r.status !== 200) throw new Error(`changes answered ${r.status}: ${r.body.slice(0, 200)}`);
  const batch = JSON.parse(r.body) as Batch;
  rig.cursor = Math.max(rig.cursor, batch.cursor);
  return batch;
}

/** Long-polls the change stream until `match` holds for a batch; resolves with the time (performance.now()). */
export async function awaitChange(ctx: BenchContext, rig: Rig, match: (b: Batch) => boolean, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const b = await readChanges(ctx, rig, rig.cursor, Math.max(1, Math.min(30, Math.ceil((deadline - performance.now()) / 1000))));
    if (match(b)) return performance.now();
  }
  throw new Error('timed out waiting for the change stream');
}

/**
 * Polls ip.txt back to back with If-None-Match (304 until it changes) until `match(body)` holds;
 * resolves with the time the matching body arrived.
 */
export async function awaitFeed(ctx: BenchContext, rig: Rig, match: (body: string) => boolean, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  const url = `${ctx.service.url}/feeds/${ctx.tenantId}/ip.txt`;
  while (performance.now() < deadline) {
    const r = await request('GET', url, { headers: { authorization: `Bearer ${rig.feedToken}`, ...(rig.ipEtag ? { 'if-none-match': rig.ipEtag } : {}) } });
    const at = performance.now();
    if (r.status === 200) {
      rig.ipBody = r.body;
      rig.ipEtag = typeof r.headers.etag === 'string' ? r.headers.etag : undefined;
    } else if (r.status !== 304) throw new Error(`ip.txt answered ${r.status}`);
    if (match(rig.ipBody)) return at;
  }
  throw new Error('timed out polling ip.txt');
}

export const hasLine = (body: string, line: string) => body.startsWith(`${line}\n`) || body.includes(`\n${line}\n`);
