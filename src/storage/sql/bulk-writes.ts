import type { Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import { rowsTable, runSql, type RowsColumn } from './raw-sql.js';

/** One action's row after a step: every column a step may change, with the full new states JSON. */
export interface ActionRowUpdate {
  seq: number;
  status: string;
  lastActionAt: number;
  completedAt: number | null;
  errorInfo: string | null;
  appliedAt: number | null;
  withdrawnAt: number | null;
  states: string;
}

const rowsPerStatement = 100;
const actionUpdateColumns: readonly RowsColumn[] = [
  ['seq', 'bigint'], ['status', 'text'], ['last_action_at', 'bigint'], ['completed_at', 'bigint'],
  ['error_info', 'text'], ['applied_at', 'bigint'], ['withdrawn_at', 'bigint'], ['states', 'text'],
];

/**
 * Writes collected at the end of an engine batch, a statement per hundred rows instead of one per
 * job: the action rows (read and locked at the start of the batch, so writing computed values back
 * is safe), the finished jobs and the confirmations withdrawals made moot.
 */
export class BulkWrites {
  private readonly actions: ActionRowUpdate[] = [];
  private readonly finishedJobs: number[] = [];
  private readonly droppedConfirmations: { actionSeq: number; kind: string }[] = [];

  constructor(private readonly trx: Transaction<Database>, private readonly caps: DialectCapabilities) {}

  updateAction(u: ActionRowUpdate): void {
    this.actions.push(u);
  }

  /** Deletes a job: one the batch finished, or an apply job a withdrawal made moot. */
  finishJob(id: number): void {
    this.finishedJobs.push(id);
  }

  dropConfirmation(actionSeq: number, kind: 'apply' | 'withdraw'): void {
    this.droppedConfirmations.push({ actionSeq, kind });
  }

  async flush(): Promise<void> {
    for (let i = 0; i < this.actions.length; i += rowsPerStatement) {
      const chunk = this.actions.slice(i, i + rowsPerStatement);
      const v = rowsTable(this.caps, actionUpdateColumns, chunk.map((u) => [u.seq, u.status, u.lastActionAt, u.completedAt, u.errorInfo, u.appliedAt, u.withdrawnAt, u.states]));
      await runSql(
        this.trx, this.caps,
        `update actions set status = v.status, last_action_at = v.last_action_at, completed_at = v.completed_at, error_info = v.error_info,
           applied_at = v.applied_at, withdrawn_at = v.withdrawn_at, states = v.states
         from ${v.sql} where actions.seq = v.seq`,
        v.parameters,
      );
    }
    for (let i = 0; i < this.finishedJobs.length; i += 500) {
      const chunk = this.finishedJobs.slice(i, i + 500);
      await runSql(this.trx, this.caps, `delete from jobs where id in (${chunk.map(() => '?').join(', ')})`, chunk);
    }
    for (let i = 0; i < this.droppedConfirmations.length; i += 500) {
      const chunk = this.droppedConfirmations.slice(i, i + 500);
      await runSql(this.trx, this.caps, `delete from confirmations where ${chunk.map(() => '(action_seq = ? and kind = ?)').join(' or ')}`, chunk.flatMap((c) => [c.actionSeq, c.kind]));
    }
    this.actions.length = 0;
    this.finishedJobs.length = 0;
    this.droppedConfirmations.length = 0;
  }
}

/** Appends JSON values to a stored JSON array text (compact from SQLite, spaced from PostgreSQL). */
export function appendToJsonArray(array: string, values: readonly string[]): string {
  if (values.length === 0) return array;
  const trimmed = array.trimEnd();
  const body = trimmed.slice(0, -1).trimEnd();
  return `${body}${body.endsWith('[') ? '' : ','}${values.join(',')}]`;
}
