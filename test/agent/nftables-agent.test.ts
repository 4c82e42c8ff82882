import { describe, expect, it } from 'vitest';
import { parseChangeBatch, type ChangeBatch } from '../../src/agent/change-batch.js';
import { HttpStatusError, type ChangeSource } from '../../src/agent/change-client.js';
import { backoffMs, NftablesAgent } from '../../src/agent/nftables-agent.js';
import { NftError, type NftRunner } from '../../src/agent/nft-runner.js';

const ip = (value: string, expirationDateTime: string | null = null) => ({ type: 'ip', value, expirationDateTime });
const snapshot = (cursor: number, added: ReturnType<typeof ip>[]) => parseChangeBatch({ cursor, snapshot: true, more: false, added, removed: [] });
const changes = (cursor: number, added: ReturnType<typeof ip>[], removed: string[] = []) =>
  parseChangeBatch({ cursor, snapshot: false, more: false, added, removed: removed.map((value) => ({ type: 'ip', value })) });

/** Answers reads from a script; when it runs out, the agent is stopped. */
function harness(script: (ChangeBatch | Error)[], options: { nftFailOn?: number[]; confirmFailures?: number } = {}) {
  const stop = new AbortController();
  const reads: (number | undefined)[] = [];
  const confirms: number[] = [];
  const scripts: string[] = [];
  const sleeps: number[] = [];
  const logs: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  let confirmFailures = options.confirmFailures ?? 0;
  const source: ChangeSource = {
    async read(since) {
      reads.push(since);
      const next = script.shift();
      if (!next) {
        stop.abort();
        throw new Error('aborted');
      }
      if (next instanceof Error) throw next;
      return next;
    },
    async confirm(cursor) {
      if (confirmFailures-- > 0) throw new Error('ECONNRESET');
      confirms.push(cursor);
      return { confirmedCursor: cursor, completedActions: 1 };
    },
  };
  const nft: NftRunner = {
    async run(s) {
      scripts.push(s);
      if (options.nftFailOn?.includes(scripts.length - 1)) throw new NftError('nft failed (exit 1): Error: interval overlaps with an existing one', '', 1);
    },
  };
  const agent = new NftablesAgent({
    source, nft, spec: { table: 'bulwark', host: true, forward: false }, waitSeconds: 30,
    log: (level, msg, fields = {}) => logs.push({ level, msg, fields }),
    sleep: async (ms) => void sleeps.push(ms),
    backoff: { baseMs: 100, maxMs: 1000 },
  });
  return { run: () => agent.run(stop.signal), reads, confirms, scripts, sleeps, logs, batches: () => logs.filter((l) => l.msg === 'batch').map((l) => l.fields) };
}

describe('NftablesAgent loop', () => {
  it('snapshot → atomic rebuild → confirm; then each batch is one transaction, confirmed after it applied', async () => {
    const h = harness([snapshot(5, [ip('10.0.0.0/24'), ip('2001:db8::/32')]), changes(6, [ip('10.0.0.7')]), changes(7, [ip('203.0.113.9')], ['10.0.0.0/24']), changes(7, [])]);
    await h.run();
    expect(h.reads).toEqual([undefined, 5, 6, 7, 7]);
    expect(h.confirms).toEqual([5, 6, 7]);
    expect(h.scripts).toHaveLength(2); // the /32 inside the /24 changes nothing in the kernel
    expect(h.scripts[0]).toContain('delete table inet bulwark');
    expect(h.scripts[0]).toContain('add element inet bulwark blocked4 { 10.0.0.0/24 }');
    expect(h.scripts[0]).toContain('add element inet bulwark blocked6 { 2001:db8::/32 }');
    expect(h.scripts[1]!.trim().split('\n')).toEqual(['delete element inet bulwark blocked4 { 10.0.0.0/24 }', 'add element inet bulwark blocked4 { 10.0.0.7, 203.0.113.9 }']);
    expect(h.batches()).toEqual([
      expect.objectContaining({ cursor: 5, snapshot: true, added: 2, removed: 0, mode: 'snapshot', confirmed: 5, ms: expect.any(Number) }),
      expect.objectContaining({ cursor: 6, added: 1, removed: 0, mode: 'none', confirmed: 6 }),
      expect.objectContaining({ cursor: 7, added: 1, removed: 1, mode: 'diff', nftAdd: 2, nftDelete: 1, confirmed: 7, completedActions: 1 }),
    ]);
  });

  it('when nft refuses a batch transaction it rebuilds the table atomically in the same step and still confirms', async () => {
    const h = harness([snapshot(1, [ip('10.0.0.1')]), changes(2, [ip('10.0.0.3')])], { nftFailOn: [1] });
    await h.run();
    expect(h.scripts).toHaveLength(3);
    expect(h.scripts[1]).toBe('add element inet bulwark blocked4 { 10.0.0.3 }\n');
    expect(h.scripts[2]).toContain('delete table inet bulwark');
    expect(h.scripts[2]).toContain('add element inet bulwark blocked4 { 10.0.0.1, 10.0.0.3 }');
    expect(h.confirms).toEqual([1, 2]);
    expect(h.logs.find((l) => l.level === 'warn')?.msg).toMatch(/refused; rebuilding/);
    expect(h.batches()[1]).toMatchObject({ cursor: 2, mode: 'fallback', confirmed: 2 });
  });

  it('a batch nft refuses twice is not confirmed; the agent starts over from a snapshot after backoff', async () => {
    const h = harness([snapshot(1, [ip('10.0.0.1')]), snapshot(3, [ip('10.0.0.1'), ip('10.0.0.2')])], { nftFailOn: [0] });
    await h.run();
    expect(h.confirms).toEqual([3]);
    expect(h.reads).toEqual([undefined, undefined, 3]);
    expect(h.sleeps).toHaveLength(1);
    expect(h.logs.find((l) => l.msg === 'retrying')!.fields['error']).toMatch(/interval overlaps/);
  });

  it('retries a failed confirm before reading on, without re-applying', async () => {
    const h = harness([snapshot(4, [ip('10.0.0.1')]), changes(4, [])], { confirmFailures: 1 });
    await h.run();
    expect(h.confirms).toEqual([4]);
    expect(h.scripts).toHaveLength(1);
    expect(h.reads).toEqual([undefined, 4, 4]);
    expect(h.batches()[0]).toMatchObject({ cursor: 4 });
    expect(h.batches()[0]).not.toHaveProperty('confirmed');
  });

  it('a 400 from the server (e.g. a cursor it no longer knows) resets to a snapshot; other errors keep the cursor', async () => {
    const h = harness([snapshot(4, []), new Error('fetch failed'), new HttpStatusError(400, 'cursor'), snapshot(9, [])]);
    await h.run();
    expect(h.reads).toEqual([undefined, 4, 4, undefined, 9]);
    expect(h.confirms).toEqual([4, 9]);
  });

  it('backs off exponentially with jitter, capped', () => {
    const b = { baseMs: 500, maxMs: 30_000 };
    expect([1, 2, 3, 4, 10, 50].map((a) => backoffMs(a, b, () => 1))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
    expect(backoffMs(1, b, () => 0)).toBe(250);
    const h = harness([new Error('a'), new Error('b'), new Error('c'), new Error('d'), new Error('e')]);
    return h.run().then(() => {
      expect(h.sleeps).toHaveLength(5);
      for (const [i, ms] of h.sleeps.entries()) {
        const cap = Math.min(1000, 100 * 2 ** i);
        expect(ms).toBeGreaterThanOrEqual(cap / 2);
        expect(ms).toBeLessThanOrEqual(cap);
      }
    });
  });

  it('expiring entries get kernel timeouts; an upsert with a new expiry is delete + add', async () => {
    const soon = new Date(Date.now() + 60_000).toISOString();
    const later = new Date(Date.now() + 600_000).toISOString();
    const h = harness([snapshot(1, [ip('198.51.100.7', soon)]), changes(2, [ip('198.51.100.7', later)])]);
    await h.run();
    const timeout = (line: string) => Number(/^add element inet bulwark blocked4 \{ 198\.51\.100\.7 timeout (\d+)ms \}$/m.exec(line)?.[1]);
    expect(timeout(h.scripts[0]!)).toBeGreaterThan(55_000);
    expect(timeout(h.scripts[0]!)).toBeLessThanOrEqual(60_000);
    const lines = h.scripts[1]!.trim().split('\n');
    expect(lines[0]).toBe('delete element inet bulwark blocked4 { 198.51.100.7 }');
    expect(timeout(lines[1]!)).toBeGreaterThan(595_000);
    expect(timeout(lines[1]!)).toBeLessThanOrEqual(600_000);
  });
});
