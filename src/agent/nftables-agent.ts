import { BlockState } from './block-state.js';
import type { ChangeBatch } from './change-batch.js';
import { HttpStatusError, type ChangeSource } from './change-client.js';
import { afterApply, afterRebuild, diffWindow, isEmptyDiff, quirkFreeAt, type AppliedElement, type ElementDiff } from './element-diff.js';
import { renderCleanup, renderDiff, renderRebuild, type TableSpec } from './nft-render.js';
import type { NftRunner } from './nft-runner.js';
import { toElements } from './segments.js';

export type AgentLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface NftablesAgentOptions {
  source: ChangeSource;
  nft: NftRunner;
  spec: TableSpec;
  /** long-poll seconds per read (0..60) */
  waitSeconds: number;
  log: AgentLog;
  /** rebuild the table from memory this often, undoing outside changes (e.g. `nft flush ruleset`); 0 = never */
  resyncMs?: number;
  backoff?: { baseMs: number; maxMs: number };
  now?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** A plain delete needs the element to outlive the transaction by this much (see `diffElements`). */
const safetyMs = 500;
/** Kernel timer granularity, on top of the measured nft run time. */
const marginMs = 100;

/**
 * The enforcement loop: snapshot → rebuild the table atomically → confirm; then long-poll the
 * change stream and apply each batch as one nft transaction before confirming its cursor. The
 * cursor is confirmed only after nft reported success, so "Completed" on the server means the
 * kernel holds the block. Any failure falls back to a snapshot and a full rebuild, after capped,
 * jittered backoff.
 */
export class NftablesAgent {
  private cursor: number | undefined;
  private confirmed = -1;
  private readonly state = new BlockState();
  private readonly applied = new Map<string, AppliedElement>();
  private failures = 0;
  private lastRebuild = 0;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly o: NftablesAgentOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? abortableSleep;
  }

  /** Runs until `signal` aborts; never throws (errors are logged and retried). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (this.cursor !== undefined && this.cursor > this.confirmed) await this.confirm(signal);
        if (this.cursor !== undefined && this.o.resyncMs && this.now() - this.lastRebuild >= this.o.resyncMs) await this.rebuild('resync');
        const batch = await this.o.source.read(this.cursor, this.o.waitSeconds, signal);
        await this.handle(batch, signal);
        this.failures = 0;
      } catch (e) {
        if (signal.aborted) break;
        this.failures++;
        if (e instanceof HttpStatusError && e.status === 400) this.reset(); // e.g. a cursor the server no longer knows
        const delay = backoffMs(this.failures, this.o.backoff ?? { baseMs: 500, maxMs: 30_000 });
        this.o.log(this.failures > 3 ? 'error' : 'warn', 'retrying', { error: e instanceof Error ? e.message : String(e), attempt: this.failures, retryInMs: delay });
        await this.sleep(delay, signal);
      }
    }
  }

  /** `--cleanup`: removes the agent's table. */
  cleanup(): Promise<void> {
    return this.o.nft.run(renderCleanup(this.o.spec));
  }

  private async handle(batch: ChangeBatch, signal: AbortSignal): Promise<void> {
    if (!batch.snapshot && batch.added.length === 0 && batch.removed.length === 0 && batch.cursor === this.cursor) return; // a long poll that timed out
    const started = performance.now();
    const fields: Record<string, unknown> = { cursor: batch.cursor, snapshot: batch.snapshot, added: batch.added.length, removed: batch.removed.length };
    if (batch.invalid.length > 0) fields['invalid'] = batch.invalid.slice(0, 10);
    this.state.apply(batch);
    try {
      Object.assign(fields, batch.snapshot || this.cursor === undefined ? await this.rebuild('snapshot') : await this.applyDiff(batch));
    } catch (e) {
      // The transaction did not commit, so the kernel still holds `applied`; start over from a snapshot.
      this.reset();
      throw e;
    }
    this.cursor = batch.cursor;
    fields['ms'] = round(performance.now() - started);
    fields['entries'] = this.state.size;
    fields['elements'] = this.applied.size;
    try {
      Object.assign(fields, await this.confirm(signal));
    } finally {
      this.o.log('info', 'batch', fields);
    }
  }

  /** One transaction for the batch; if nft refuses it (state drifted), an atomic full rebuild instead. */
  private async applyDiff(batch: ChangeBatch): Promise<Record<string, unknown>> {
    const changed = [...batch.added, ...batch.removed].map((e) => e.cidr);
    let now = this.now();
    let diff: ElementDiff = diffWindow(this.applied, this.state.values(), changed, { now, safetyMs });
    // Rare: an element whose timeout is firing right now overlaps a new one (see quirkFreeAt).
    // Waiting a few hundred ms until it has surely expired keeps the batch one transaction.
    let waitedMs = 0;
    for (let attempt = 0, at = quirkFreeAt(diff, now); at !== undefined && attempt < 3; attempt++, at = quirkFreeAt(diff, now)) {
      await this.sleep(Math.max(0, at - now), new AbortController().signal);
      waitedMs += Math.max(0, at - now);
      now = this.now();
      diff = diffWindow(this.applied, this.state.values(), changed, { now, safetyMs });
    }
    const counts = { nftAdd: diff.add.length, nftDelete: diff.remove.length + diff.removeIfPresent.length, ...(waitedMs > 0 ? { waitedMs } : {}) };
    if (isEmptyDiff(diff)) return { mode: 'none', ...counts };
    try {
      await this.o.nft.run(renderDiff(this.o.spec, diff, now));
    } catch (e) {
      this.o.log('warn', 'batch transaction refused; rebuilding the table', { error: e instanceof Error ? e.message : String(e) });
      return { ...(await this.rebuild('fallback')), ...counts };
    }
    afterApply(this.applied, diff, { startedAt: now, endedAt: this.now(), marginMs });
    return { mode: 'diff', ...counts };
  }

  private async rebuild(mode: 'snapshot' | 'fallback' | 'resync'): Promise<Record<string, unknown>> {
    const now = this.now();
    const started = performance.now();
    const elements = toElements(this.state.values(), now);
    await this.o.nft.run(renderRebuild(this.o.spec, elements, now));
    afterRebuild(this.applied, elements, { startedAt: now, endedAt: this.now(), marginMs });
    this.lastRebuild = this.now();
    if (mode === 'resync') this.o.log('info', 'resync', { elements: elements.length, ms: round(performance.now() - started) });
    return { mode, nftAdd: elements.length };
  }

  private async confirm(signal: AbortSignal): Promise<Record<string, unknown>> {
    const cursor = this.cursor;
    if (cursor === undefined || cursor <= this.confirmed) return {};
    const started = performance.now();
    const r = await this.o.source.confirm(cursor, signal);
    this.confirmed = cursor;
    return { confirmed: cursor, confirmMs: round(performance.now() - started), completedActions: r.completedActions };
  }

  private reset(): void {
    this.cursor = undefined;
    this.confirmed = -1;
  }
}

/** Exponential with equal jitter, capped: 0.5 s, 1 s, 2 s … 30 s. */
export function backoffMs(attempt: number, b: { baseMs: number; maxMs: number }, random: () => number = Math.random): number {
  const exp = Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const round = (ms: number) => Math.round(ms * 10) / 10;
