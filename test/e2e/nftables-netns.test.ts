import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withAdminContext } from '../../src/cli/admin-context.js';
import { startTestService, type TestService } from '../helpers/service.js';
import {
  bulwarkCli, captureLines, createNetnsLab, delay, describeRequiring, netnsRequirement, requireTool, startListener, startProber, stopProcess,
  type LineLog, type NetnsLab, type ProbeResult,
} from '../helpers/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const requirement = netnsRequirement();
const nft = requireTool('nft') ?? 'nft';

/**
 * The real thing: a Bulwark service in the root namespace, an enforcing namespace (the firewall
 * host) running `bulwark agent nftables` and a TCP listener, and a client namespace that connects
 * to it from several source addresses. Every assertion about blocking is a real TCP handshake.
 */
describeRequiring(requirement, 'nftables agent enforcing BlockIp in a network namespace', () => {
  const port = 7070;
  const control = '10.66.0.2';
  const single = '10.66.2.1';
  const expiring = '10.66.2.2';
  const twice = '10.66.2.3';
  const whileDown = '10.66.2.4';
  const v6 = 'fd00:66::2';
  const range = Array.from({ length: 8 }, (_, i) => `10.66.1.${8 + i}`); // 10.66.1.8/29
  const outsideRange = ['10.66.1.7', '10.66.1.16'];

  let lab: NetnsLab;
  let svc: TestService;
  let tenant: string;
  let apiToken: string;
  let tokenDir: string;
  let prober: Awaited<ReturnType<typeof startProber>>;
  let agent: { child: ChildProcess; log: LineLog; stderr: () => string } | undefined;
  const timings = { completeMs: [] as number[], restartMs: [] as number[] };
  const agentLogs: LineLog[] = [];

  beforeAll(async () => {
    lab = createNetnsLab();
    for (const a of [single, expiring, twice, whileDown, ...range, ...outsideRange, v6]) lab.addClientAddress(a);
    svc = await startTestService({ overrides: { host: lab.managementAddress, providers: [{ type: 'feeds', provider: 'feeds' }, { type: 'agent', provider: 'edge' }] } });
    tenant = svc.newTenant();
    apiToken = await svc.token({ tenant, app: 'netns-test' });
    const config = { ...svc.config, publicUrl: svc.url };
    const credential = await withAdminContext(config, ({ credentialService }) => credentialService.createAgentCredential(tenant, 'edge', 'fw-netns'));
    tokenDir = mkdtempSync(join(tmpdir(), 'bwk-agent-'));
    writeFileSync(join(tokenDir, 'token'), `${credential.token}\n`, { mode: 0o600 });
    await startListener(lab, lab.enforcer, port);
    prober = await startProber(lab, lab.client);
    // Fresh veths: IPv6 neighbour discovery can take a moment under load. Wait (bounded) until both
    // families carry a connection before the agent starts; the first test then asserts it for all.
    for (const from of ['10.66.0.2', 'fd00:66::2']) {
      const to = from.includes(':') ? lab.enforcerAddress6 : lab.enforcerAddress;
      for (let deadline = Date.now() + 10_000; !(await prober.connect(from, to, port)).ok && Date.now() < deadline; );
    }
    agent = await startAgent();
  }, 60_000);

  afterAll(async () => {
    if (agent) await stopProcess(agent.child, 3000);
    await lab?.cleanup();
    await svc?.close();
    if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
    const batches = agentLogs.flatMap((log) => log.lines.map(parse)).filter((l): l is Record<string, unknown> => l?.['msg'] === 'batch');
    const byMode = (mode: string) => batches.filter((l) => l['mode'] === mode).map((l) => Number(l['ms']));
    if (timings.completeMs.length > 0) {
      console.info(
        `agent CLI from ${bulwarkCli(root).label}; POST BlockIp → Completed (agent confirmed): ${summary(timings.completeMs)}; agent start → Completed: ${summary(timings.restartMs)}; ` +
          `agent apply per batch (diff): ${summary(byMode('diff'))}; snapshot rebuild: ${summary(byMode('snapshot'))}; ` +
          `confirm round trip: ${summary(batches.map((l) => Number(l['confirmMs'])).filter((n) => !Number.isNaN(n)))}`,
      );
    }
  });

  async function startAgent(extra: string[] = []): Promise<{ child: ChildProcess; log: LineLog; stderr: () => string }> {
    const cli = bulwarkCli(root);
    const args = [...cli.args, 'agent', 'nftables', '--server', svc.url, '--tenant', tenant, '--provider', 'edge', '--token-file', join(tokenDir, 'token'), '--wait', '30', ...extra];
    const child = lab.spawnIn(lab.enforcer, cli.cmd, args);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const log = captureLines(child);
    agentLogs.push(log);
    try {
      await log.waitFor((l) => parse(l)?.['msg'] === 'batch' && parse(l)?.['snapshot'] === true && parse(l)?.['confirmed'] !== undefined, 30_000);
    } catch (e) {
      throw new Error(`agent (${cli.label}) did not apply its snapshot: ${(e as Error).message}\nstdout: ${log.lines.join('\n')}\nstderr: ${stderr}`);
    }
    return { child, log, stderr: () => stderr };
  }

  async function post(value: string, extra: { name: string; value: string }[] = []): Promise<string> {
    const res = await svc.fetch('/beta/security/securityActions', {
      method: 'POST',
      token: apiToken,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'BlockIp', actionReason: 'netns e2e', parameters: [{ name: 'IP', value }, ...extra], vendorInformation: { provider: 'edge' } }),
    });
    const body = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body.id;
  }

  async function get(id: string): Promise<{ status: string; states: { status: string; reason?: string | null }[] }> {
    const res = await svc.fetch(`/beta/security/securityActions/${id}`, { token: apiToken });
    expect(res.status).toBe(200);
    return (await res.json()) as { status: string; states: { status: string; reason?: string | null }[] };
  }

  async function cancel(id: string): Promise<void> {
    const res = await svc.fetch(`/beta/security/securityActions/${id}/cancelSecurityAction`, { method: 'POST', token: apiToken });
    expect(res.status).toBe(200);
  }

  /** Polls the action until `done(action)`; fails with its states after `timeoutMs`. */
  async function until(id: string, done: (a: Awaited<ReturnType<typeof get>>) => boolean, timeoutMs = 10_000): Promise<Awaited<ReturnType<typeof get>>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = await get(id);
      if (done(a)) return a;
      if (Date.now() > deadline) throw new Error(`action ${id} did not get there; now ${a.status}: ${JSON.stringify(a.states.map((s) => `${s.status}: ${s.reason}`))}`);
      await delay(25);
    }
  }

  const reasons = (a: { states: { reason?: string | null }[] }) => a.states.map((s) => s.reason ?? '');
  const enforced = (a: Awaited<ReturnType<typeof get>>) => a.status === 'Completed' && reasons(a).some((r) => /enforced: (confirmed by all 1 agent|all 1 agent)/.test(r));
  const withdrawn = (a: Awaited<ReturnType<typeof get>>) => reasons(a).some((r) => /withdrawn: (removal confirmed by all 1 agent|all 1 agent)/.test(r));
  const confirmedByAgent = (a: Awaited<ReturnType<typeof get>>) => reasons(a).some((r) => /agent fw-netns of edge applied the change stream through cursor \d+/.test(r));

  /** Blocks and waits for Completed; a duplicate of a block already in force completes without a new confirmation. */
  async function block(value: string, extra: { name: string; value: string }[] = [], { duplicate = false } = {}): Promise<string> {
    const started = Date.now();
    const id = await post(value, extra);
    const a = await until(id, enforced);
    timings.completeMs.push(Date.now() - started);
    if (duplicate) expect(reasons(a)).toContain(`enforced: all 1 agent(s) of edge already apply ${value}`);
    else expect(confirmedByAgent(a), JSON.stringify(reasons(a))).toBe(true);
    return id;
  }

  async function unblock(id: string, { stillCovered = false } = {}): Promise<void> {
    await cancel(id);
    await until(id, (a) => a.status === 'Completed' && (stillCovered ? reasons(a).some((r) => /stays blocked by 1 other active action/.test(r)) : withdrawn(a)));
  }

  const connect = (from: string, to = from.includes(':') ? lab.enforcerAddress6 : lab.enforcerAddress): Promise<ProbeResult> => prober.connect(from, to, port);
  async function expectOpen(...from: string[]): Promise<void> {
    const results = await Promise.all(from.map((f) => connect(f)));
    expect(Object.fromEntries(from.map((f, i) => [f, results[i]!.ok ? 'open' : results[i]!.error]))).toEqual(Object.fromEntries(from.map((f) => [f, 'open'])));
  }
  async function expectBlocked(...from: string[]): Promise<void> {
    const results = await Promise.all(from.map((f) => connect(f)));
    expect(Object.fromEntries(from.map((f, i) => [f, results[i]!.ok ? 'open' : 'blocked']))).toEqual(Object.fromEntries(from.map((f) => [f, 'blocked'])));
  }

  it('connects work before anything is blocked (IPv4 from every test address, IPv6)', async () => {
    await expectOpen(control, single, expiring, twice, whileDown, ...range, ...outsideRange, v6);
  });

  it('BlockIp → Completed only after the agent confirmed; the address is dropped, others are not; cancel → open again, withdrawal confirmed', async () => {
    const id = await block(single);
    await expectBlocked(single);
    await expectOpen(control);
    const drops = lab.exec(lab.enforcer, nft, ['list', 'chain', 'inet', 'bulwark', 'input']);
    expect(drops).toMatch(/ip saddr @blocked4 counter packets [1-9]\d* bytes \d+ drop/);
    expect(drops).toContain(`ip saddr ${lab.managementAddress} accept`); // the agent never cuts its own control channel
    const line = agent!.log.lines.map(parse).find((l) => l?.['msg'] === 'batch' && l['added'] === 1 && l['mode'] === 'diff');
    expect(line).toMatchObject({ level: 'info', cursor: expect.any(Number), added: 1, removed: 0, ms: expect.any(Number), confirmed: expect.any(Number) });
    await unblock(id);
    const a = await get(id);
    expect(a.states.filter((s) => /agent fw-netns of edge applied/.test(s.reason ?? '')).length).toBeGreaterThanOrEqual(2); // the block and its withdrawal
    await expectOpen(single, control);
  });

  it('IPv6: a blocked IPv6 source is dropped and released again', async () => {
    const id = await block(v6);
    await expectBlocked(v6);
    await expectOpen(control);
    await unblock(id);
    await expectOpen(v6);
  });

  it('Duration PT3S: blocked at once, open again after expiry (kernel timeout), and the expiry is recorded', async () => {
    const started = Date.now();
    const id = await block(expiring, [{ name: 'Duration', value: 'PT3S' }]);
    await expectBlocked(expiring);
    const set = lab.exec(lab.enforcer, nft, ['list', 'set', 'inet', 'bulwark', 'blocked4']);
    expect(set).toMatch(/10\.66\.2\.2 timeout \S+ expires/);
    let openedAt = 0;
    while (Date.now() - started < 8000) {
      if ((await connect(expiring)).ok) {
        openedAt = Date.now() - started;
        break;
      }
      await delay(100);
    }
    expect(openedAt, 'still blocked 8 s after a 3 s block').toBeGreaterThan(0);
    expect(openedAt).toBeGreaterThanOrEqual(2500);
    await until(id, (a) => reasons(a).some((r) => /expir|withdrawn/i.test(r)) && a.status === 'Completed');
  });

  it('a /29 covers every address in it (8 source addresses), not the neighbours; cancel opens them all', async () => {
    const id = await block('10.66.1.8/29');
    await expectBlocked(...range);
    await expectOpen(...outsideRange, control);
    await unblock(id);
    await expectOpen(...range);
  });

  it('overlapping blocks are counted: the same IP twice — cancel one, still blocked; cancel both, open', async () => {
    const first = await block(twice);
    const second = await block(twice, [], { duplicate: true });
    await expectBlocked(twice);
    await unblock(first, { stillCovered: true });
    await expectBlocked(twice);
    await unblock(second);
    await expectOpen(twice);
  });

  it('nested blocks: a /29 and a /32 inside it — cancel the /29, the /32 stays blocked and its neighbours open; cancel the /32, open', async () => {
    const wide = await block('10.66.1.8/29');
    const narrow = await block('10.66.1.9');
    await expectBlocked(...range);
    await unblock(wide);
    await expectBlocked('10.66.1.9');
    await expectOpen('10.66.1.8', '10.66.1.10', '10.66.1.15');
    await unblock(narrow);
    await expectOpen(...range);
  });

  it('restart: SIGTERM leaves the table in force; an action stays Running while the agent is down and completes when it is back (snapshot reconcile)', async () => {
    const kept = await block(single);
    expect(await stopProcess(agent!.child, 5000)).toBe(0);
    expect(parse(agent!.log.lines.at(-1) ?? '')?.['msg']).toBe('stopped');
    agent = undefined;
    expect(lab.exec(lab.enforcer, nft, ['list', 'set', 'inet', 'bulwark', 'blocked4'])).toContain(single);
    await expectBlocked(single); // enforcement does not depend on the agent process

    const id = await post(whileDown);
    await until(id, (a) => a.status === 'Running' && reasons(a).some((r) => /waiting for 1 agent\(s\) to confirm/.test(r)));
    await delay(1000);
    const waiting = await get(id);
    expect(waiting.status).toBe('Running');
    expect(confirmedByAgent(waiting)).toBe(false);
    await expectOpen(whileDown); // nobody enforces it yet

    await cancel(kept); // also withdrawn while the agent is down
    const started = Date.now();
    agent = await startAgent(['--cleanup']);
    const done = await until(id, enforced);
    timings.restartMs.push(Date.now() - started);
    expect(confirmedByAgent(done)).toBe(true);
    await expectBlocked(whileDown);
    await until(kept, withdrawn);
    await expectOpen(single, control);
    await unblock(id);
    await expectOpen(whileDown);
  });

  it('--cleanup: SIGTERM removes the agent\'s table and nothing else', async () => {
    lab.exec(lab.enforcer, nft, ['add table inet someone_else']);
    expect(await stopProcess(agent!.child, 5000)).toBe(0);
    agent = undefined;
    const tables = lab.exec(lab.enforcer, nft, ['list', 'tables']);
    expect(tables).not.toContain('table inet bulwark');
    expect(tables).toContain('table inet someone_else');
  });
});

function parse(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function summary(ms: number[]): string {
  if (ms.length === 0) return 'n/a';
  const s = [...ms].sort((a, b) => a - b);
  return `n=${s.length} median ${s[Math.floor(s.length / 2)]} ms, max ${s.at(-1)} ms`;
}
