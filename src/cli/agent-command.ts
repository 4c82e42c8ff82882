import { lookup } from 'node:dns/promises';
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { createChangeClient } from '../agent/change-client.js';
import { NftablesAgent, type AgentLog } from '../agent/nftables-agent.js';
import { tableNamePattern, type TableSpec } from '../agent/nft-render.js';
import { createNftRunner } from '../agent/nft-runner.js';
import { formatCidr, parseIpOrCidr, type Cidr } from '../domain/indicators/ip.js';
import { guarded, UsageError } from './common.js';

interface AgentFlags {
  server: string;
  tenant: string;
  provider: string;
  token?: string;
  tokenFile?: string;
  table: string;
  hook: string;
  wait: string;
  nft?: string;
  resync: string;
  cleanup?: boolean;
}

/** `bulwark agent nftables`: the enforcement-host daemon (see src/agent/). */
export function registerAgentCommand(program: Command): void {
  const agent = program.command('agent').description('enforcement agents that run on the enforcing host');
  agent
    .command('nftables')
    .description('apply a provider\'s change stream to nftables sets in this host\'s own table and confirm it')
    .requiredOption('--server <url>', 'Bulwark base URL, as printed by `bulwark agents add`')
    .requiredOption('--tenant <tenantId>')
    .requiredOption('--provider <name>', 'the agent provider this agent enforces')
    .option('--token <token>', 'agent token (bwa_…); prefer --token-file or env BULWARK_AGENT_TOKEN')
    .option('--token-file <file>', 'file holding the agent token')
    .option('--table <name>', 'nftables table (family inet) owned by the agent', 'bulwark')
    .option('--hook <hooks>', 'input (this host: input+output), forward (routed traffic), both; also "input,forward"', 'input,forward')
    .option('--wait <seconds>', 'long-poll seconds (0..60)', '30')
    .option('--nft <path>', 'nft binary (default: /usr/sbin/nft, /sbin/nft or nft on PATH)')
    .option('--resync <seconds>', 'rebuild the table from memory this often to undo outside changes; 0 = never', '300')
    .option('--cleanup', 'remove the table on SIGTERM/SIGINT (default: leave it in force)')
    .action((opts: AgentFlags) =>
      guarded(async () => {
        const settings = parseFlags(opts);
        settings.spec.exempt = await serverAddresses(settings.server);
        const log = jsonLog();
        const nft = createNftRunner({ nftPath: settings.nftPath });
        const agentLoop = new NftablesAgent({
          source: createChangeClient({ server: settings.server, tenantId: opts.tenant, provider: opts.provider, token: settings.token }),
          nft,
          spec: settings.spec,
          waitSeconds: settings.wait,
          resyncMs: settings.resyncSeconds * 1000,
          log,
        });
        const stop = new AbortController();
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort());
        log('info', 'started', { server: settings.server, tenant: opts.tenant, provider: opts.provider, table: settings.spec.table, host: settings.spec.host, forward: settings.spec.forward, exempt: settings.spec.exempt.map(formatCidr), nft: settings.nftPath });
        await agentLoop.run(stop.signal);
        if (opts.cleanup) {
          try {
            await agentLoop.cleanup();
            log('info', 'table removed', { table: settings.spec.table });
          } catch (e) {
            log('error', 'cleanup failed', { error: e instanceof Error ? e.message : String(e) });
            process.exit(1);
          }
        }
        log('info', 'stopped', {});
        process.exit(0);
      }),
    );
}

/** The server's addresses (resolved once at start), exempted from this host's drops. */
async function serverAddresses(server: string): Promise<Cidr[]> {
  const host = new URL(server).hostname.replace(/^\[(.*)\]$/, '$1');
  const literal = parseIpOrCidr(host);
  if (literal) return [literal];
  try {
    return (await lookup(host, { all: true })).map((a) => parseIpOrCidr(a.address)).filter((c): c is Cidr => c !== undefined);
  } catch {
    return []; // unresolvable now: the loop will report the connection errors
  }
}

function parseFlags(opts: AgentFlags): { server: string; token: string; spec: TableSpec & { exempt: Cidr[] }; wait: number; resyncSeconds: number; nftPath: string } {
  let server: URL;
  try {
    server = new URL(opts.server);
  } catch {
    throw new UsageError(`--server '${opts.server}' is not a URL`);
  }
  if (server.protocol !== 'http:' && server.protocol !== 'https:') throw new UsageError('--server must be an http(s) URL');
  const token = (opts.token ?? (opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8') : process.env['BULWARK_AGENT_TOKEN']) ?? '').trim();
  if (!token) throw new UsageError('an agent token is required: --token, --token-file or env BULWARK_AGENT_TOKEN');
  if (!tableNamePattern.test(opts.table)) throw new UsageError(`--table '${opts.table}' must match ${tableNamePattern}`);
  const hooks = new Set(opts.hook.split(',').map((h) => h.trim()));
  if (hooks.delete('both')) {
    hooks.add('input');
    hooks.add('forward');
  }
  if (hooks.size === 0 || [...hooks].some((h) => h !== 'input' && h !== 'forward')) throw new UsageError('--hook must be input, forward or both');
  const wait = Number(opts.wait);
  if (!Number.isInteger(wait) || wait < 0 || wait > 60) throw new UsageError('--wait must be 0..60 seconds');
  const resyncSeconds = Number(opts.resync);
  if (!Number.isFinite(resyncSeconds) || resyncSeconds < 0) throw new UsageError('--resync must be a number of seconds ≥ 0');
  const nftPath = opts.nft ?? ['/usr/sbin/nft', '/sbin/nft'].find((p) => existsSync(p)) ?? 'nft';
  return { server: server.toString().replace(/\/+$/, ''), token, spec: { table: opts.table, host: hooks.has('input'), forward: hooks.has('forward'), exempt: [] }, wait, resyncSeconds, nftPath };
}

/** One JSON object per line on stdout (journald and log shippers read it as is). */
function jsonLog(): AgentLog {
  return (level, msg, fields = {}) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}
