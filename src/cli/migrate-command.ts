import type { Command } from 'commander';
import { openDatabase } from '../storage/sql/database.js';
import { configFromOptions, guarded, storageSettings, withConfigOptions } from './common.js';

export function registerMigrateCommand(program: Command): void {
  withConfigOptions(program.command('migrate').description('apply database migrations and exit (serve also does this on start)'), [
    ...storageSettings,
    'databasePoolSize',
  ]).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const config = configFromOptions(opts);
      const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema, poolSize: 1 });
      await db.close();
      process.stdout.write(`migrations current (${config.databaseUrl ? db.describe : `SQLite in ${config.dataDir}`})\n`);
    }),
  );
}
