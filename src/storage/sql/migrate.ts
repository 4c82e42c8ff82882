import { sql, type Kysely, type Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import * as initial from './migrations/001-initial.js';
import * as actionVersions from './migrations/002-action-versions.js';

/** Migrations in order. Each is `up(db, caps)`; a new one gets the next number and never changes. */
const migrations: Record<string, { up(db: Kysely<unknown>, caps: DialectCapabilities): Promise<void> }> = {
  '001-initial': initial,
  '002-action-versions': actionVersions,
};

export const latestMigration = Object.keys(migrations).at(-1)!;

/**
 * Applies pending migrations in one transaction. On PostgreSQL an advisory lock keyed by the
 * current schema serialises nodes starting at once (DDL is transactional there, so a failed
 * migration leaves nothing behind); on SQLite the write lock does. Only the current schema is ever
 * looked at: several Bulwark schemas can share a database (Kysely's own migrator introspects every
 * schema, which breaks when another one is dropped at the same moment).
 */
export async function migrateToLatest(db: Kysely<unknown>, caps: DialectCapabilities): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    if (caps.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('bulwark_migrations:' || current_schema()))`.execute(trx);
    await sql`create table if not exists bulwark_migrations (name text primary key, executed_at ${sql.raw(caps.bigintType)} not null)`.execute(trx);
    const done = await executed(trx);
    const applied: string[] = [];
    for (const [name, m] of Object.entries(migrations)) {
      if (done.has(name)) continue;
      await m.up(trx, caps);
      await sql`insert into bulwark_migrations (name, executed_at) values (${name}, ${Date.now()})`.execute(trx);
      applied.push(name);
    }
    const unknown = [...done].filter((n) => !(n in migrations));
    if (unknown.length > 0) throw new Error(`the database has migrations this version does not know (${unknown.join(', ')}): it was migrated by a newer Bulwark`);
    return applied;
  });
}

/** True when every known migration has been applied (for `/readyz`). */
export async function migrationsCurrent(db: Kysely<unknown>): Promise<boolean> {
  try {
    const done = await executed(db);
    return Object.keys(migrations).every((n) => done.has(n));
  } catch {
    return false;
  }
}

async function executed(db: Kysely<unknown> | Transaction<unknown>): Promise<Set<string>> {
  const rows = await sql<{ name: string }>`select name from bulwark_migrations`.execute(db);
  return new Set(rows.rows.map((r) => r.name));
}
