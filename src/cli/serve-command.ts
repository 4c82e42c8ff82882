import cluster from 'node:cluster';
import type { Command } from 'commander';
import type { Config } from '../config/schema.js';
import { startService } from '../main.js';
import { serveCluster } from './api-cluster.js';
import { configFromOptions, guarded, withConfigOptions } from './common.js';

export function registerServeCommands(program: Command): void {
  withConfigOptions(
    program
      .command('serve')
      .description('run the API (and, unless --no-engine, the enforcement engine)')
      .option('--no-engine', 'serve the API only; run `bulwark worker` processes for enforcement'),
  ).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const config = configFromOptions(opts);
      const engine = opts['engine'] !== false;
      const service = config.apiProcesses > 1 ? await serveCluster(config, engine) : await serveAlone(config, engine);
      // Handle SIGTERM before announcing readiness: a supervisor may stop us as soon as it reads this.
      installShutdown(service.close, service.logger);
      if (cluster.isWorker) return;
      const where = `${config.databaseUrl ? service.describe : `SQLite in ${config.dataDir}`}${config.apiProcesses > 1 ? `; ${config.apiProcesses} API processes` : ''}`;
      process.stdout.write(
        [
          `Bulwark listening on ${service.url} (${where})`,
          `  Graph API:  ${service.url}/beta/security/securityActions  (also /v1.0)`,
          `  Token:      npx bulwark token --tenant <tenantId> --role SecurityActions.ReadWrite.All${config.dataDir !== './data' ? ` --data-dir ${config.dataDir}` : ''}`,
          `  or register an app: npx bulwark apps create --tenant <tenantId> --name soar --role SecurityActions.ReadWrite.All`,
          `  then POST ${service.url}/<tenantId>/oauth2/v2.0/token (client_credentials, scope=api://bulwark/.default)`,
          '',
        ].join('\n'),
      );
    }),
  );

  withConfigOptions(program.command('worker').description('run the enforcement engine only (no HTTP API)')).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const config = configFromOptions(opts);
      const service = await startService({ config, api: false, engine: true });
      process.stdout.write(`Bulwark worker running (${config.databaseUrl ? service.database.describe : `SQLite in ${config.dataDir}`})\n`);
      installShutdown(service.close, service.logger);
    }),
  );
}

async function serveAlone(config: Readonly<Config>, engine: boolean) {
  const service = await startService({ config, api: true, engine });
  return { url: service.url, close: service.close, logger: service.logger, describe: service.database.describe };
}

/** SIGTERM/SIGINT: stop taking work, finish or release what is held, close, exit. */
export function installShutdown(close: () => Promise<void>, logger: { info(o: object, m: string): void }): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
