import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ensureTestPostgres } from './test-postgres.js';

/** One store the suite runs against. `sqlite` always; `postgres` per backends(). */
export interface Backend {
  name: 'sqlite' | 'postgres';
  /** fresh, isolated storage settings for one service (a temp dir or a new schema) */
  fresh(): Promise<{ dataDir: string; databaseUrl?: string; databaseSchema?: string; cleanup(): Promise<void> }>;
}

export const sqliteBackend: Backend = {
  name: 'sqlite',
  async fresh() {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-test-'));
    return { dataDir, cleanup: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  },
};

export const postgresBackend: Backend = {
  name: 'postgres',
  async fresh() {
    const databaseUrl = await ensureTestPostgres();
    const databaseSchema = `bw_test_${randomBytes(6).toString('hex')}`;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-test-pg-'));
    return {
      dataDir,
      databaseUrl,
      databaseSchema,
      cleanup: async () => {
        fs.rmSync(dataDir, { recursive: true, force: true });
        const c = new pg.Client({ connectionString: databaseUrl });
        await c.connect();
        try {
          await c.query(`DROP SCHEMA IF EXISTS ${databaseSchema} CASCADE`);
        } finally {
          await c.end();
        }
      },
    };
  },
};

/**
 * The stores a suite runs on: both by default. `BULWARK_TEST_BACKENDS=sqlite` narrows it for a quick
 * local loop; CI never sets it.
 */
export function backends(): Backend[] {
  const only = process.env['BULWARK_TEST_BACKENDS'];
  const all = [sqliteBackend, postgresBackend];
  return only ? all.filter((b) => only.split(',').includes(b.name)) : all;
}
