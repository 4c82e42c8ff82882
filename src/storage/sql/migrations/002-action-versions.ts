import { sql, type Kysely } from 'kysely';
import type { DialectCapabilities } from '../../dialects.js';

/**
 * SQLite only: `action_versions` holds, per tenant, a number that triggers raise in the same
 * transaction as every insert, update or delete of one of the tenant's actions, whichever code (or
 * process, or tool) writes it. A list answer computed when the number was N is still the answer
 * while it is N (http/response-cache.ts; docs/decisions/0016-list-response-cache.md). PostgreSQL
 * gets none: there one row per tenant, locked by every writing transaction until it commits, would
 * serialise the engine's parallel batches; lists there are not cached.
 */
export async function up(db: Kysely<unknown>, caps: DialectCapabilities): Promise<void> {
  if (caps.dialect !== 'sqlite') return;
  await sql`create table action_versions (tenant_id text primary key, version integer not null) without rowid`.execute(db);
  for (const [event, row] of [['insert', 'new'], ['update', 'new'], ['delete', 'old']] as const) {
    await sql
      .raw(
        `create trigger action_versions_${event} after ${event} on actions begin ` +
          `insert into action_versions (tenant_id, version) values (${row}.tenant_id, 1) ` +
          `on conflict (tenant_id) do update set version = version + 1; end`,
      )
      .execute(db);
  }
}
