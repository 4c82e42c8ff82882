import { sql, type RawBuilder } from 'kysely';
import type { ActionsTable } from './schema.js';

export type ActionColumn = keyof ActionsTable & string;

/** OData property path → column, and whether the column can hold NULL (drives NULL-safe SQL). */
export const actionColumns: Readonly<Record<string, { column: ActionColumn; nullable: boolean }>> = {
  id: { column: 'id', nullable: false },
  name: { column: 'name', nullable: false },
  status: { column: 'status', nullable: false },
  actionReason: { column: 'action_reason', nullable: true },
  appId: { column: 'app_id', nullable: true },
  azureTenantId: { column: 'tenant_id', nullable: false },
  clientContext: { column: 'client_context', nullable: true },
  user: { column: 'user_name', nullable: true },
  createdDateTime: { column: 'created_at', nullable: false },
  lastActionDateTime: { column: 'last_action_at', nullable: false },
  completedDateTime: { column: 'completed_at', nullable: true },
  cancelledDateTime: { column: 'cancelled_at', nullable: true },
  expirationDateTime: { column: 'expires_at', nullable: true },
  'vendorInformation/provider': { column: 'provider', nullable: true },
  'vendorInformation/vendor': { column: 'vendor', nullable: true },
  'vendorInformation/subProvider': { column: 'sub_provider', nullable: true },
  'vendorInformation/providerVersion': { column: 'provider_version', nullable: true },
};

export function columnFor(property: string): { column: ActionColumn; nullable: boolean } {
  const c = actionColumns[property];
  // The OData layer only produces whitelisted properties; reaching this is a programming error.
  if (!c) throw new Error(`no column for property ${property}`);
  return c;
}

/** Graph orders enum values by member number (NotStarted=0 … Failed=3), not by name. */
export const statusRank: Readonly<Record<string, number>> = { NotStarted: 0, Running: 1, Completed: 2, Failed: 3 };

/**
 * What `$orderby` sorts by for a property: the column, except `status`, which sorts by member
 * number. `valueOf` reads the same sort value from a row, for the keyset position.
 */
export function sortKeyFor(property: string): { expr: RawBuilder<unknown>; nullable: boolean; valueOf(row: Record<string, unknown>): string | number | null } {
  const { column, nullable } = columnFor(property);
  if (property === 'status') {
    return {
      expr: sql`(case actions.status when 'NotStarted' then 0 when 'Running' then 1 when 'Completed' then 2 when 'Failed' then 3 end)`,
      nullable: false,
      valueOf: (row) => statusRank[row['status'] as string] ?? null,
    };
  }
  return { expr: sql.ref(`actions.${column}`), nullable, valueOf: (row) => (row[column] as string | number | null) ?? null };
}
