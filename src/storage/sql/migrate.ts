import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import * as initial from './migrations/001-initial.js';

/** Migrations in order. Each is `up(db, caps)`; a new one gets the next number and never changes. */
const migrations: Record<string, { up(db: Kysely<unknown>, caps: DialectCapabilities): Promise<void> }> = {
  '001-initial': initial,
};

export const latestMigration = Object.keys(migrations).at(-1)!;

function provider(caps: DialectCapabilities): MigrationProvider {
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(migrations)) out[name] = { up: (db) => m.up(db, caps) };
      return out;
    },
  };
}

/**
 * Kysely's migrator looks for its own tables in every schema unless told which one; with several
 * Bulwark schemas in one PostgreSQL database (tests, staging next to production) it would find
 * another schema's tables. Pin it to the connection's current schema.
 */
async function migrator(db: Kysely<unknown>, caps: DialectCapabilities): Promise<Migrator> {
  const migrationTableSchema =
    caps.dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s : undefined;
  return new Migrator({
    db,
    provider: provider(caps),
    migrationTableName: 'bulwark_migrations',
    migrationLockTableName: 'bulwark_migration_lock',
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  });
}

/**
 * Applies pending migrations. Kysely's migrator takes a lock (a row lock on PostgreSQL, the write
 * lock on SQLite), so several nodes starting at once apply each migration exactly once.
 */
export async function migrateToLatest(db: Kysely<unknown>, caps: DialectCapabilities): Promise<string[]> {
  const { error, results } = await (await migrator(db, caps)).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every known migration has been applied (for `/readyz`). */
export async function migrationsCurrent(db: Kysely<unknown>, caps: DialectCapabilities): Promise<boolean> {
  const all = await (await migrator(db, caps)).getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
