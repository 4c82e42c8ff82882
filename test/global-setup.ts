import type { TestProject } from 'vitest/node';

/**
 * Once per run: when the suite needs PostgreSQL and no DATABASE_URL was given, start one throwaway
 * server here and hand its URL to every worker (instead of one server per worker).
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const only = process.env['BULWARK_TEST_BACKENDS'];
  const needsPostgres = !only || only.split(',').includes('postgres');
  const given = process.env['BULWARK_TEST_DATABASE_URL'];
  if (!needsPostgres) return;
  if (given) {
    project.provide('testDatabaseUrl', given);
    return;
  }
  const { startEmbeddedPostgres } = await import('./helpers/embedded-postgres.js');
  const server = await startEmbeddedPostgres();
  project.provide('testDatabaseUrl', server.url);
  return server.stop;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabaseUrl: string;
  }
}
