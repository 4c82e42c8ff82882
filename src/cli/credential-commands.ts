import type { Command } from 'commander';
import { withAdminContext } from './admin-context.js';
import { configFromOptions, guarded, storageSettings, withConfigOptions } from './common.js';
import { checkTenant } from './identity-commands.js';

const configSettings = [...storageSettings, 'defaultProvider'];

/** `bulwark feeds credential` and `bulwark agents add|list|remove`. */
export function registerCredentialCommands(program: Command): void {
  const feeds = program.command('feeds').description('block-list feed access');
  withConfigOptions(
    feeds
      .command('credential')
      .description('create a read-only feed credential (printed once)')
      .requiredOption('--tenant <tenantId>')
      .option('--name <name>', 'label, e.g. the firewall reading it', 'feed-reader')
      .option('--json', 'print JSON'),
    configSettings,
  ).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const tenant = checkTenant(opts['tenant'] as string);
      const config = configFromOptions(opts);
      await withAdminContext(config, async ({ credentialService, baseUrl }) => {
        const c = await credentialService.createFeedCredential(tenant, opts['name'] as string);
        const feedUrl = `${baseUrl}/feeds/${tenant}/`;
        if (opts['json']) process.stdout.write(`${JSON.stringify({ id: c.id, tenantId: tenant, token: c.token, feedUrl })}\n`);
        else process.stdout.write(`token: ${c.token}\nfeeds: ${feedUrl}{ip.txt,domain.txt,url.txt,sha256.txt,sha1.txt,md5.txt,rpz.zone}\nThe token is shown only now.\n`);
      });
    }),
  );

  const agents = program.command('agents').description('register the enforcement agents of an agent provider');
  withConfigOptions(
    agents
      .command('add')
      .description('register an agent; actions routed to its provider complete only once it confirms them')
      .requiredOption('--tenant <tenantId>')
      .requiredOption('--provider <name>', 'an agent provider from the configuration')
      .requiredOption('--name <name>', 'agent name, e.g. the host')
      .option('--json', 'print JSON'),
    configSettings,
  ).action((opts: Record<string, unknown>) =>
    guarded(async () => {
      const tenant = checkTenant(opts['tenant'] as string);
      const config = configFromOptions(opts);
      await withAdminContext(config, async ({ credentialService, baseUrl }) => {
        const c = await credentialService.createAgentCredential(tenant, opts['provider'] as string, opts['name'] as string);
        const out = { id: c.id, tenantId: tenant, provider: c.provider, token: c.token, server: baseUrl };
        process.stdout.write(opts['json'] ? `${JSON.stringify(out)}\n` : `id: ${out.id}\ntoken: ${out.token}\nrun: npx bulwark agent nftables --server ${baseUrl} --tenant ${tenant} --provider ${c.provider} --token-file <file>\n`);
      });
    }),
  );
  withConfigOptions(agents.command('list').description('list agents and their confirmed cursors').requiredOption('--tenant <tenantId>').option('--json'), configSettings).action(
    (opts: Record<string, unknown>) =>
      guarded(async () => {
        const tenant = checkTenant(opts['tenant'] as string);
        await withAdminContext(configFromOptions(opts), async ({ credentials }) => {
          const list = (await credentials.list(tenant, 'agent')).map((c) => ({
            id: c.id, name: c.name, provider: c.provider, confirmedCursor: c.confirmedSeq ?? 0, revoked: c.revokedAt !== null,
            lastSeenDateTime: c.lastSeenAt === null ? null : new Date(c.lastSeenAt).toISOString(),
          }));
          process.stdout.write(opts['json'] ? `${JSON.stringify(list)}\n` : list.map((a) => `${a.id}  ${a.provider}  ${a.name}  cursor=${a.confirmedCursor}${a.revoked ? '  (removed)' : ''}`).join('\n') + '\n');
        });
      }),
  );
  withConfigOptions(agents.command('remove').description('deregister an agent (waiting actions no longer wait for it)').requiredOption('--tenant <tenantId>').requiredOption('--id <id>'), configSettings).action(
    (opts: Record<string, unknown>) =>
      guarded(async () => {
        const tenant = checkTenant(opts['tenant'] as string);
        const config = configFromOptions(opts);
        await withAdminContext(config, async ({ credentialService }) => {
          const ok = await credentialService.revoke(tenant, opts['id'] as string);
          process.stdout.write(ok ? 'removed\n' : 'no such active agent\n');
          if (!ok) process.exitCode = 1;
        });
      }),
  );
}
