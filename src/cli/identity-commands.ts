import type { Command } from 'commander';
import { roles } from '../domain/security-action.js';
import { assignableRoles, tenantIdPattern } from '../services/identity-service.js';
import { withAdminContext } from './admin-context.js';
import { configFromOptions, guarded, storageSettings, UsageError, withConfigOptions } from './common.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerIdentityCommands(program: Command): void {
  const apps = program.command('apps').description('register and list applications (client credentials)');
  withConfigOptions(
    apps
      .command('create')
      .description('register an application; prints its client secret once')
      .requiredOption('--tenant <tenantId>', 'tenant the application belongs to')
      .requiredOption('--name <name>', 'display name')
      .requiredOption('--role <role>', `app role, repeatable (${roles.read}, ${roles.readWrite})`, collect)
      .option('--json', 'print JSON'),
    storageSettings,
  ).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const tenant = checkTenant(opts['tenant'] as string);
      const unknownRoles = (opts['role'] as string[]).filter((r) => !assignableRoles.includes(r));
      if (unknownRoles.length > 0) throw new UsageError(`--role '${unknownRoles.join("', '")}' is not a role; use ${assignableRoles.join(' or ')}`);
      await withAdminContext(configFromOptions(opts), async ({ identity }) => {
        const { app, clientSecret } = await identity.createApp(tenant, opts['name'] as string, opts['role'] as string[]);
        const out = { tenantId: app.tenantId, clientId: app.clientId, clientSecret, roles: app.roles };
        if (opts['json']) process.stdout.write(`${JSON.stringify(out)}\n`);
        else {
          process.stdout.write(
            `tenantId:     ${out.tenantId}\nclientId:     ${out.clientId}\nclientSecret: ${out.clientSecret}\nroles:        ${out.roles.join(', ')}\n` +
              'The secret is shown only now; Bulwark stores only its hash.\n',
          );
        }
      });
    }),
  );
  withConfigOptions(apps.command('list').description('list applications of a tenant').requiredOption('--tenant <tenantId>').option('--json'), storageSettings).action(
    (opts: Record<string, unknown>) =>
      guarded(async () => {
        const tenant = checkTenant(opts['tenant'] as string);
        await withAdminContext(configFromOptions(opts), async ({ database }) => {
          const { createSqlIdentityStore } = await import('../storage/sql/identity-store.js');
          const list = (await createSqlIdentityStore(database.db, database.caps).listApps(tenant)).map((a) => ({
            clientId: a.clientId, name: a.name, roles: a.roles, createdDateTime: new Date(a.createdAt).toISOString(), disabled: a.disabledAt !== null,
          }));
          process.stdout.write(opts['json'] ? `${JSON.stringify(list)}\n` : list.map((a) => `${a.clientId}  ${a.name}  ${a.roles.join(',')}${a.disabled ? '  (disabled)' : ''}`).join('\n') + '\n');
        });
      }),
  );

  withConfigOptions(
    program
      .command('token')
      .description('print an access token directly (operator convenience; no client secret needed)')
      .requiredOption('--tenant <tenantId>', 'tenant (tid claim)')
      .requiredOption('--role <role>', 'app role, repeatable', collect)
      .option('--app <appId>', 'appid/azp claim (default: a fixed operator id)')
      .option('--user <upn>', 'upn claim: the user recorded on actions')
      .option('--lifetime <seconds>', 'token lifetime in seconds (default from config, 3600)'),
    storageSettings,
  ).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const tenant = checkTenant(opts['tenant'] as string);
      const lifetime = opts['lifetime'] === undefined ? undefined : Number(opts['lifetime']);
      if (lifetime !== undefined && !(Number.isInteger(lifetime) && lifetime >= 60 && lifetime <= 86_400)) throw new UsageError('--lifetime must be 60..86400 seconds');
      await withAdminContext(configFromOptions(opts), async ({ issuer }) => {
        const { accessToken } = await issuer.issue({
          tenantId: tenant,
          appId: (opts['app'] as string | undefined) ?? 'bulwark-cli',
          roles: opts['role'] as string[],
          user: opts['user'] as string | undefined,
          lifetimeSeconds: lifetime,
        });
        process.stdout.write(`${accessToken}\n`);
      });
    }),
  );
}

export function checkTenant(tenant: string): string {
  if (!tenantIdPattern.test(tenant)) throw new UsageError(`--tenant '${tenant}' is not a valid tenant id (letters, digits, '.', '_', '-'; max 64)`);
  return tenant;
}
