import { sql, type RawBuilder } from 'kysely';
import type { ActionsTable } from './schema.js';

export type ActionColumn = keyof ActionsTable & string;

/** What a column holds: text, or epoch milliseconds (INTEGER on SQLite, BIGINT on PostgreSQL). */
export type ColumnType = 'text' | 'epochMs';

/**
 * OData property path → column, whether the column can hold NULL (drives NULL-safe SQL), and its
 * type (checks keyset positions before they reach SQL).
 */
export const actionColumns: Readonly<Record<string, { column: ActionColumn; nullable: boolean; type: ColumnType }>> = {
  id: { column: 'id', nullable: false, type: 'text' },
  name: { column: 'name', nullable: false, type: 'text' },
  status: { column: 'status', nullable: false, type: 'text' },
  actionReason: { column: 'action_reason', nullable: true, type: 'text' },
  appId: { column: 'app_id', nullable: true, type: 'text' },
  azureTenantId: { column: 'tenant_id', nullable: false, type: 'text' },
  clientContext: { column: 'client_context', nullable: true, type: 'text' },
  user: { column: 'user_name', nullable: true, type: 'text' },
  createdDateTime: { column: 'created_at', nullable: false, type: 'epochMs' },
  lastActionDateTime: { column: 'last_action_at', nullable: false, type: 'epochMs' },
  completedDateTime: { column: 'completed_at', nullable: true, type: 'epochMs' },
  cancelledDateTime: { column: 'cancelled_at', nullable: true, type: 'epochMs' },
  expirationDateTime: { column: 'expires_at', nullable: true, type: 'epochMs' },
  'vendorInformation/provider': { column: 'provider', nullable: true, type: 'text' },
  'vendorInformation/vendor': { column: 'vendor', nullable: true, type: 'text' },
  'vendorInformation/subProvider': { column: 'sub_provider', nullable: true, type: 'text' },
  'vendorInformation/providerVersion': { column: 'provider_version', nullable: true, type: 'text' },
};

export function columnFor(property: string): { column: ActionColumn; nullable: boolean; type: ColumnType } {
  const c = actionColumns[property];
  // The OData layer only produces whitelisted properties; reaching this is a programming error.
  if (!c) throw new Error(`no column for property ${property}`);
  return c;
}

/** Graph orders enum values by member number (NotStarted=0 … Failed=3), not by name. */
export const statusRank: Readonly<Record<string, number>> = { NotStarted: 0, Running: 1, Completed: 2, Failed: 3 };

const ranks = new Set(Object.values(statusRank));
// PostgreSQL text cannot hold NUL and a lone surrogate has no UTF-8 form (as in odata/lexer.ts).
const unstorable = /\u0000|\p{Cs}/u;

export interface SortKey {
  expr: RawBuilder<unknown>;
  nullable: boolean;
  /** The sort value of a row, for the keyset position. */
  valueOf(row: Record<string, unknown>): string | number | null;
  /**
   * Whether `value` can be a sort value of this key. A position comes back from the client inside
   * a `$skiptoken`, whose fingerprint is no secret: a string compared with a BIGINT column is a
   * PostgreSQL error (a 500), and on SQLite a silently wrong page.
   */
  accepts(value: unknown): boolean;
}

/**
 * What `$orderby` sorts by for a property: the column, except `status`, which sorts by member
 * number. `valueOf` reads the same sort value from a row, for the keyset position.
 */
export function sortKeyFor(property: string): SortKey {
  const { column, nullable, type } = columnFor(property);
  if (property === 'status') {
    return {
      expr: sql`(case actions.status when 'NotStarted' then 0 when 'Running' then 1 when 'Completed' then 2 when 'Failed' then 3 end)`,
      nullable: false,
      valueOf: (row) => statusRank[row['status'] as string] ?? null,
      accepts: (value) => value === null || (typeof value === 'number' && ranks.has(value)),
    };
  }
  return {
    expr: sql.ref(`actions.${column}`),
    nullable,
    valueOf: (row) => (row[column] as string | number | null) ?? null,
    accepts:
      type === 'epochMs'
        ? (value) => value === null || Number.isSafeInteger(value)
        : (value) => value === null || (typeof value === 'string' && !unstorable.test(value)),
  };
}
