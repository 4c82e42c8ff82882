import type { Command } from 'commander';
import { loadConfig, ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { configFileSetting, settings } from '../config/settings.js';

/** Adds every config setting as a flag (help text comes from the one settings table). */
export function withConfigOptions(cmd: Command, only?: readonly string[]): Command {
  cmd.option(configFileSetting.flag, `${configFileSetting.description} (env ${configFileSetting.env})`);
  for (const s of settings) {
    if (only && !only.includes(s.path)) continue;
    cmd.option(s.flag, `${s.description} (env ${s.env.join(' or ')})`);
  }
  return cmd;
}

/** Data-access commands (apps, token, feeds, migrate) need only where the database is. */
export const storageSettings = ['dataDir', 'databaseUrl', 'databaseSchema', 'publicUrl', 'auth.audience', 'logLevel'] as const;

export function configFromOptions(opts: Record<string, unknown>): Readonly<Config> {
  const flags: Record<string, unknown> = {};
  for (const s of settings) {
    const key = camel(s.flag.split(' ')[0]!.replace(/^--/, ''));
    if (opts[key] !== undefined) flags[s.path] = opts[key];
  }
  return loadConfig({ flags, configFile: opts['config'] as string | undefined });
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** Runs a command body; configuration and usage errors print one clear line and exit 2. */
export async function guarded(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof ConfigError || (e instanceof Error && e.name === 'UsageError')) {
      process.stderr.write(`bulwark: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`bulwark: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}
