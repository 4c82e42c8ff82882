import type { Transaction } from 'kysely';
import type { Indicator } from '../../domain/indicators/indicator.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import { rowsTable, runSql, type RowsColumn } from './raw-sql.js';

export interface StreamKey {
  tenantId: string;
  provider: string;
}

export interface PendingChange {
  stream: StreamKey;
  op: 'add' | 'remove';
  indicator: Indicator;
  expiresAt: number | null;
  /** set the ledger entry's change_seq to this change's number */
  setsLedger: boolean;
  /** confirmations that wait for this change */
  confirmations: { actionSeq: number; kind: 'apply' | 'withdraw' }[];
  seq?: number;
}

const rowsPerStatement = 200;
const ledgerSeqColumns: readonly RowsColumn[] = [['t', 'text'], ['p', 'text'], ['it', 'text'], ['ind', 'text'], ['seq', 'bigint']];
const entryKey = (s: StreamKey, i: Indicator) => `${s.tenantId}\n${s.provider}\n${i.type}\n${i.value}`;

/**
 * The changes one transaction appends, written at its end. Each stream's head row is bumped once,
 * by the number of changes, just before commit: the row lock that orders a stream's changes by
 * commit (docs/decisions/0005) is then held for a few statements instead of the whole transaction,
 * so concurrent workers no longer queue behind each other's steps.
 */
export class ChangeLog {
  private pending: PendingChange[] = [];
  private readonly heads = new Map<string, number>();
  /** the latest change appended per ledger entry (also once written: the ledger row is fixed at flush) */
  private readonly latest = new Map<string, PendingChange>();

  constructor(private readonly trx: Transaction<Database>, private readonly caps: DialectCapabilities, private readonly now: number) {}

  append(change: Omit<PendingChange, 'confirmations' | 'seq'>): PendingChange {
    const entry: PendingChange = { ...change, confirmations: [] };
    this.pending.push(entry);
    this.latest.set(entryKey(change.stream, change.indicator), entry);
    return entry;
  }

  /**
   * The change this transaction last appended for an entry: the ledger row's change_seq does not
   * show it until flush, so a later step on the same indicator must use this instead.
   */
  latestFor(stream: StreamKey, indicator: Indicator): PendingChange | undefined {
    return this.latest.get(entryKey(stream, indicator));
  }

  /** Writes every pending change; afterwards each has its `seq`. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const byStream = new Map<string, PendingChange[]>();
    for (const c of batch) {
      const key = `${c.stream.tenantId}\n${c.stream.provider}`;
      byStream.set(key, [...(byStream.get(key) ?? []), c]);
    }
    for (const [key, changes] of byStream) {
      const { tenantId, provider } = changes[0]!.stream;
      const n = changes.length;
      const head = await runSql<{ head_seq: number | string }>(
        this.trx, this.caps,
        `insert into streams (tenant_id, provider, head_seq, pruned_through) values (?, ?, ?, 0)
         on conflict (tenant_id, provider) do update set head_seq = streams.head_seq + ? returning head_seq`,
        [tenantId, provider, n, n],
      );
      const last = Number(head.rows[0]!.head_seq);
      changes.forEach((c, i) => (c.seq = last - n + 1 + i));
      this.heads.set(key, last);
    }
    for (let i = 0; i < batch.length; i += rowsPerStatement) {
      const chunk = batch.slice(i, i + rowsPerStatement);
      await runSql(
        this.trx, this.caps,
        `insert into changes (tenant_id, provider, seq, op, indicator_type, indicator, expires_at, created_at) values ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((c) => [c.stream.tenantId, c.stream.provider, c.seq, c.op, c.indicator.type, c.indicator.value, c.expiresAt, this.now]),
      );
    }
    await this.fixLedger(batch.filter((c) => c.setsLedger));
    await this.insertConfirmations(batch.flatMap((c) => c.confirmations.map((w) => ({ ...w, c }))));
  }

  /** The newest sequence written per stream (`tenant\nprovider` → seq), for wake-ups after commit. */
  published(): ReadonlyMap<string, number> {
    return this.heads;
  }

  private async fixLedger(changes: PendingChange[]): Promise<void> {
    const latest = new Map<string, PendingChange>();
    for (const c of changes) latest.set(`${c.stream.tenantId}\n${c.stream.provider}\n${c.indicator.type}\n${c.indicator.value}`, c);
    const rows = [...latest.values()];
    for (let i = 0; i < rows.length; i += rowsPerStatement) {
      const chunk = rows.slice(i, i + rowsPerStatement);
      const v = rowsTable(this.caps, ledgerSeqColumns, chunk.map((c) => [c.stream.tenantId, c.stream.provider, c.indicator.type, c.indicator.value, c.seq]));
      await runSql(
        this.trx, this.caps,
        `update ledger set change_seq = v.seq from ${v.sql}
         where ledger.tenant_id = v.t and ledger.provider = v.p and ledger.indicator_type = v.it and ledger.indicator = v.ind`,
        v.parameters,
      );
    }
  }

  private async insertConfirmations(waits: { actionSeq: number; kind: string; c: PendingChange }[]): Promise<void> {
    for (let i = 0; i < waits.length; i += rowsPerStatement) {
      const chunk = waits.slice(i, i + rowsPerStatement);
      await runSql(
        this.trx, this.caps,
        `insert into confirmations (tenant_id, provider, action_seq, kind, change_seq) values ${chunk.map(() => '(?, ?, ?, ?, ?)').join(', ')}
         on conflict (action_seq, kind) do update set change_seq = excluded.change_seq`,
        chunk.flatMap((w) => [w.c.stream.tenantId, w.c.stream.provider, w.actionSeq, w.kind, w.c.seq]),
      );
    }
  }
}
