import type { IndicatorType } from '../domain/indicators/indicator.js';
import type { Notifier } from '../storage/ports.js';
import type { LedgerStore } from '../storage/ports.js';

export interface ChangeBatch {
  cursor: number;
  /** true: `added` is the complete set and replaces whatever the reader had */
  snapshot: boolean;
  added: { type: IndicatorType; value: string; expiresAt: number | null }[];
  removed: { type: IndicatorType; value: string }[];
  /** more changes are waiting; read again at once */
  more: boolean;
}

export const maxWaitSeconds = 60;

/**
 * The change stream enforcement points follow: a snapshot when the reader has no cursor (or one
 * that is too old), else the net changes since its cursor, long-polling up to `wait` seconds when
 * there are none. Wake-ups come from the store's notifier, so every node answers within
 * milliseconds of a change committed through any node.
 */
export class ChangeStreamService {
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private readonly ledger: LedgerStore, notifier: Notifier) {
    notifier.subscribe('changes', (payload) => {
      const [tenant, provider] = payload.split('\n');
      if (tenant === undefined || provider === undefined || payload === '') {
        for (const set of this.waiters.values()) for (const w of set) w();
        return;
      }
      for (const w of this.waiters.get(`${tenant}\n${provider}`) ?? []) w();
    });
  }

  /** Answers every open long poll now (graceful shutdown) and stops waiting from here on. */
  close(): void {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of set) w();
  }

  async read(tenantId: string, provider: string, since: number | undefined, waitSeconds: number, signal?: AbortSignal, limit = 5000): Promise<ChangeBatch> {
    if (since === undefined) return this.snapshot(tenantId, provider);
    const deadline = Date.now() + (this.closed ? 0 : Math.min(waitSeconds, maxWaitSeconds) * 1000);
    for (;;) {
      const woken = this.waitFor(tenantId, provider);
      try {
        const r = await this.ledger.changesSince(tenantId, provider, since, limit);
        if (r.tooOld) return this.snapshot(tenantId, provider);
        const remaining = deadline - Date.now();
        if (r.changes.length > 0 || remaining <= 0 || signal?.aborted || this.closed) return net(r.changes, r.cursor, r.changes.length === limit);
        await woken.wait(remaining, signal);
      } finally {
        woken.cancel();
      }
    }
  }

  private async snapshot(tenantId: string, provider: string): Promise<ChangeBatch> {
    const s = await this.ledger.snapshot(tenantId, provider);
    return {
      cursor: s.cursor,
      snapshot: true,
      added: s.entries.map((e) => ({ type: e.indicator.type, value: e.indicator.value, expiresAt: e.expiresAt })),
      removed: [],
      more: false,
    };
  }

  /** Registers interest before reading, so a change committed in between is not missed. */
  private waitFor(tenantId: string, provider: string): { wait(ms: number, signal?: AbortSignal): Promise<void>; cancel(): void } {
    const key = `${tenantId}\n${provider}`;
    let fired = false;
    let release: (() => void) | undefined;
    const waker = () => {
      fired = true;
      release?.();
    };
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(waker);
    const cancel = () => {
      set!.delete(waker);
      if (set!.size === 0) this.waiters.delete(key);
    };
    return {
      cancel,
      wait: (ms, signal) =>
        new Promise<void>((resolve) => {
          if (fired) return resolve();
          const timer = setTimeout(resolve, ms);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          release = done;
          signal?.addEventListener('abort', done, { once: true });
        }),
    };
  }
}

/** Net effect per indicator: the last change wins (an add then a remove is a remove). */
function net(changes: { op: 'add' | 'remove'; indicator: { type: IndicatorType; value: string }; expiresAt: number | null }[], cursor: number, more: boolean): ChangeBatch {
  const last = new Map<string, (typeof changes)[number]>();
  for (const c of changes) last.set(`${c.indicator.type}\n${c.indicator.value}`, c);
  const added: ChangeBatch['added'] = [];
  const removed: ChangeBatch['removed'] = [];
  for (const c of last.values()) {
    if (c.op === 'add') added.push({ type: c.indicator.type, value: c.indicator.value, expiresAt: c.expiresAt });
    else removed.push({ type: c.indicator.type, value: c.indicator.value });
  }
  return { cursor, snapshot: false, added, removed, more };
}
