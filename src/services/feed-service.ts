import type { IndicatorType } from '../domain/indicators/indicator.js';
import { errors } from '../domain/errors.js';
import type { LedgerStore } from '../storage/ports.js';

export interface FeedView {
  cursor: number;
  byType: ReadonlyMap<IndicatorType, ReadonlyMap<string, number | null>>;
  /** cursor of the last change that touched each type (keys render caches) */
  versions: ReadonlyMap<IndicatorType, number>;
  /** true when the database could not be reached and this is the last complete view */
  stale: boolean;
}

interface StreamState {
  cursor: number;
  byType: Map<IndicatorType, Map<string, number | null>>;
  versions: Map<IndicatorType, number>;
  refreshing?: Promise<void>;
}

/**
 * What a tenant's feeds publish, kept in memory per stream and advanced incrementally from the
 * change stream (one indexed query per request), so serving a feed never scans actions. Several
 * nodes each keep their own view and converge through the shared change stream. On a database
 * error the last complete view is served, marked stale; with no view at all the answer is 503 —
 * never an empty or partial list.
 */
export class FeedService {
  private readonly streams = new Map<string, StreamState>();

  constructor(private readonly ledger: LedgerStore, private readonly options: { maxStreams?: number; batch?: number } = {}) {}

  async view(tenantId: string, provider: string): Promise<FeedView> {
    const key = `${tenantId}\n${provider}`;
    let state = this.streams.get(key);
    try {
      if (!state) {
        state = await this.load(tenantId, provider);
        this.remember(key, state);
      } else {
        this.streams.delete(key);
        this.streams.set(key, state);
        state.refreshing ??= this.catchUp(tenantId, provider, state).finally(() => (state!.refreshing = undefined));
        await state.refreshing;
      }
      return { cursor: state.cursor, byType: state.byType, versions: state.versions, stale: false };
    } catch (e) {
      if (state) return { cursor: state.cursor, byType: state.byType, versions: state.versions, stale: true };
      throw errors.serviceUnavailable(`The feed is temporarily unavailable (${(e as Error).message.slice(0, 100)}); retry shortly.`, 5);
    }
  }

  private async load(tenantId: string, provider: string): Promise<StreamState> {
    const snap = await this.ledger.snapshot(tenantId, provider);
    const state: StreamState = { cursor: snap.cursor, byType: new Map(), versions: new Map() };
    for (const e of snap.entries) bucket(state, e.indicator.type).set(e.indicator.value, e.expiresAt);
    for (const t of state.byType.keys()) state.versions.set(t, snap.cursor);
    return state;
  }

  private async catchUp(tenantId: string, provider: string, state: StreamState): Promise<void> {
    const batch = this.options.batch ?? 10_000;
    for (;;) {
      const r = await this.ledger.changesSince(tenantId, provider, state.cursor, batch);
      if (r.tooOld) {
        const fresh = await this.load(tenantId, provider);
        Object.assign(state, { cursor: fresh.cursor, byType: fresh.byType, versions: fresh.versions });
        // Everything may have changed: bump every version so renders are redone.
        for (const t of ['ip', 'domain', 'url', 'md5', 'sha1', 'sha256'] as const) state.versions.set(t, fresh.cursor + 0.5);
        return;
      }
      for (const c of r.changes) {
        const b = bucket(state, c.indicator.type);
        if (c.op === 'add') b.set(c.indicator.value, c.expiresAt);
        else b.delete(c.indicator.value);
        state.versions.set(c.indicator.type, c.seq);
      }
      state.cursor = r.cursor;
      if (r.changes.length < batch) return;
    }
  }

  private remember(key: string, state: StreamState): void {
    this.streams.set(key, state);
    const max = this.options.maxStreams ?? 1000;
    while (this.streams.size > max) {
      const oldest = this.streams.keys().next().value;
      if (oldest === undefined) break;
      this.streams.delete(oldest);
    }
  }
}

function bucket(state: StreamState, type: IndicatorType): Map<string, number | null> {
  let b = state.byType.get(type);
  if (!b) state.byType.set(type, (b = new Map()));
  return b;
}
