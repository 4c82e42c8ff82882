import type { Transaction } from 'kysely';
import type { Indicator } from '../../domain/indicators/indicator.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import type { ChangeLog, PendingChange, StreamKey } from './change-log.js';
import type { LedgerAddResult } from './ledger.js';
import { laterExpiry } from './ledger.js';
import { rowsTable, runSql, type RowsColumn } from './raw-sql.js';

interface Entry {
  key: readonly [string, string, string, string];
  /** 0: no active action (absent, or a placeholder this batch inserted) */
  refcount: number;
  expiresAt: number | null;
  changeSeq: number;
  /** a row exists in the table (read, or inserted by `load`) */
  stored: boolean;
  /** refcount or expiry changed since the row was read */
  dirty: boolean;
}

export interface LedgerKey {
  stream: StreamKey;
  indicator: Indicator;
  /** the batch may add to it (an apply step): a placeholder row is inserted so it can be locked */
  adds: boolean;
}

const rowsPerStatement = 100;
const keyOf = (s: StreamKey, i: Indicator) => [s.tenantId, s.provider, i.type, i.value] as const;
const textKey = (k: readonly string[]) => k.join('\n');
const cmpKey = (a: readonly string[], b: readonly string[]) => {
  for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
};
const keyColumns: readonly RowsColumn[] = [['t', 'text'], ['p', 'text'], ['it', 'text'], ['ind', 'text']];
const joinOnKey = 'ledger.tenant_id = v.t and ledger.provider = v.p and ledger.indicator_type = v.it and ledger.indicator = v.ind';

/**
 * The ledger entries one engine batch touches, read (and on PostgreSQL locked) in two statements at
 * the start of the batch, changed in memory by its steps, and written back in a few statements at
 * its end: a batch of withdrawals (an expiry burst) or applies then costs a handful of round trips
 * instead of two or three per action. Same rules as `ledgerAdd`/`ledgerRemove` (ledger.ts), which
 * the one-job path still uses.
 *
 * Locking (PostgreSQL): first the entries the batch may add are inserted as refcount-0 placeholders
 * (ON CONFLICT DO NOTHING, so existing ones are left alone), then every entry is read FOR UPDATE in
 * key order. Inserts only wait for other inserts of the same key, and row locks are taken in one
 * order by every batch, so parallel batches cannot deadlock on the ledger. Placeholders still at 0
 * when the batch ends are deleted before commit.
 */
export class BatchLedger {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly trx: Transaction<Database>, private readonly caps: DialectCapabilities, private readonly log: ChangeLog) {}

  async load(keys: readonly LedgerKey[]): Promise<void> {
    const unique = new Map<string, { key: readonly [string, string, string, string]; adds: boolean }>();
    for (const k of keys) {
      const key = keyOf(k.stream, k.indicator);
      const t = textKey(key);
      unique.set(t, { key, adds: (unique.get(t)?.adds ?? false) || k.adds });
    }
    const sorted = [...unique.values()].sort((a, b) => cmpKey(a.key, b.key));
    const adds = sorted.filter((k) => k.adds);
    for (let i = 0; i < adds.length; i += rowsPerStatement) {
      const chunk = adds.slice(i, i + rowsPerStatement);
      await runSql(
        this.trx, this.caps,
        `insert into ledger (tenant_id, provider, indicator_type, indicator, refcount, expires_at, change_seq)
         values ${chunk.map(() => '(?, ?, ?, ?, 0, null, 0)').join(', ')} on conflict (tenant_id, provider, indicator_type, indicator) do nothing`,
        chunk.flatMap((k) => k.key),
      );
    }
    for (const k of sorted) this.entries.set(textKey(k.key), { key: k.key, refcount: 0, expiresAt: null, changeSeq: 0, stored: false, dirty: false });
    for (let i = 0; i < sorted.length; i += rowsPerStatement) {
      const chunk = sorted.slice(i, i + rowsPerStatement);
      const v = rowsTable(this.caps, keyColumns, chunk.map((k) => k.key));
      const rows = await runSql<{ tenant_id: string; provider: string; indicator_type: string; indicator: string; refcount: number | string; expires_at: number | string | null; change_seq: number | string }>(
        this.trx, this.caps,
        `select ledger.tenant_id, ledger.provider, ledger.indicator_type, ledger.indicator, ledger.refcount, ledger.expires_at, ledger.change_seq
         from ledger join ${v.sql} on ${joinOnKey}
         order by ledger.tenant_id, ledger.provider, ledger.indicator_type, ledger.indicator${this.caps.rowLocks ? ' for update of ledger' : ''}`,
        v.parameters,
      );
      for (const r of rows.rows) {
        const e = this.entries.get(textKey([r.tenant_id, r.provider, r.indicator_type, r.indicator]))!;
        e.refcount = Number(r.refcount);
        e.expiresAt = r.expires_at === null ? null : Number(r.expires_at);
        e.changeSeq = Number(r.change_seq);
        e.stored = true;
      }
    }
  }

  add(stream: StreamKey, indicator: Indicator, expiresAt: number | null): LedgerAddResult {
    const e = this.entry(stream, indicator);
    e.refcount += 1;
    e.dirty = true;
    if (e.refcount === 1) {
      e.expiresAt = expiresAt;
      return { refcount: 1, published: true, change: this.log.append({ stream, op: 'add', indicator, expiresAt, setsLedger: true }) };
    }
    const expiry = laterExpiry(e.expiresAt, expiresAt);
    if (expiry === e.expiresAt) return { refcount: e.refcount, published: false, change: this.log.latestFor(stream, indicator) ?? { seq: e.changeSeq } };
    e.expiresAt = expiry;
    return { refcount: e.refcount, published: true, change: this.log.append({ stream, op: 'add', indicator, expiresAt: expiry, setsLedger: true }) };
  }

  async remove(stream: StreamKey, indicator: Indicator, remainingExpiry: () => Promise<number | null>): Promise<{ remaining: number; change: PendingChange | null }> {
    const e = this.entry(stream, indicator);
    if (e.refcount === 0) return { remaining: 0, change: null };
    e.dirty = true;
    if (e.refcount === 1) {
      e.refcount = 0;
      e.expiresAt = null;
      return { remaining: 0, change: this.log.append({ stream, op: 'remove', indicator, expiresAt: null, setsLedger: false }) };
    }
    e.refcount -= 1;
    const expiry = await remainingExpiry();
    const moved = expiry !== e.expiresAt;
    e.expiresAt = expiry;
    return { remaining: e.refcount, change: moved ? this.log.append({ stream, op: 'add', indicator, expiresAt: expiry, setsLedger: true }) : null };
  }

  /** Writes the changed entries back: updates for those still active, deletes for the rest. */
  async flush(): Promise<void> {
    const changed = [...this.entries.values()].filter((e) => e.dirty || (e.stored && e.refcount === 0));
    const kept = changed.filter((e) => e.refcount > 0);
    const gone = changed.filter((e) => e.refcount === 0 && e.stored);
    for (let i = 0; i < kept.length; i += rowsPerStatement) {
      const chunk = kept.slice(i, i + rowsPerStatement);
      const v = rowsTable(this.caps, [...keyColumns, ['refcount', 'bigint'], ['expires_at', 'bigint']], chunk.map((e) => [...e.key, e.refcount, e.expiresAt]));
      await runSql(this.trx, this.caps, `update ledger set refcount = v.refcount, expires_at = v.expires_at from ${v.sql} where ${joinOnKey}`, v.parameters);
    }
    for (let i = 0; i < gone.length; i += rowsPerStatement) {
      const chunk = gone.slice(i, i + rowsPerStatement);
      const v = rowsTable(this.caps, keyColumns, chunk.map((e) => e.key));
      await runSql(this.trx, this.caps, `delete from ledger where exists (select 1 from ${v.sql} where ${joinOnKey})`, v.parameters);
    }
    for (const e of changed) {
      e.stored = e.refcount > 0;
      e.dirty = false;
    }
  }

  private entry(stream: StreamKey, indicator: Indicator): Entry {
    const e = this.entries.get(textKey(keyOf(stream, indicator)));
    if (!e) throw new Error(`ledger entry ${indicator.type} ${indicator.value} was not loaded for this batch`);
    return e;
  }
}
