import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';
import { configFileSetting, settings, type Setting } from './settings.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** Flag values keyed by setting path (as the CLI collected them). */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  configFile?: string | undefined;
}

/** Builds, validates and freezes the configuration. Throws ConfigError with every problem listed. */
export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const file = options.configFile ?? env[configFileSetting.env];
  const raw: Record<string, unknown> = file ? readConfigFile(file) : {};

  for (const s of settings) {
    const fromEnv = s.env.map((name) => env[name]).find((v) => v !== undefined && v !== '');
    if (fromEnv !== undefined) setPath(raw, s.path, coerce(s, fromEnv, `environment ${s.env.join('/')}`));
  }
  for (const [path, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    const s = settings.find((x) => x.path === path);
    setPath(raw, path, s && typeof value === 'string' ? coerce(s, value, `flag ${s.flag.split(' ')[0]}`) : value);
  }
  moveOidcShortcut(raw);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration${file ? ` (file ${file})` : ''}:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new ConfigError('invalid configuration: --tls-cert and --tls-key go together');
  for (const [flag, file] of [['--tls-cert', config.tlsCert], ['--tls-key', config.tlsKey]] as const) {
    if (file === undefined) continue;
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (e) {
      throw new ConfigError(`invalid configuration: ${flag} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  const names = new Set<string>();
  for (const p of config.providers) {
    const key = p.provider.toLowerCase();
    if (names.has(key)) throw new ConfigError(`invalid configuration: provider '${p.provider}' is defined twice (names are case-insensitive)`);
    names.add(key);
  }
  return deepFreeze(config);
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  try {
    const value: unknown = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('the top level must be an object');
    return value as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`cannot parse config file ${file}: ${(e as Error).message}`);
  }
}

function coerce(s: Setting, value: string, source: string): unknown {
  if (s.kind === 'integer') {
    if (!/^\d+$/.test(value)) throw new ConfigError(`invalid configuration: ${source} must be an integer, got '${value}'`);
    return Number(value);
  }
  if (s.kind === 'boolean') return value === 'true' || value === '1';
  return value;
}

/** `--oidc-*` flags describe one trusted issuer; append it to `auth.trustedIssuers`. */
function moveOidcShortcut(raw: Record<string, unknown>): void {
  const oidc = raw['oidc'] as Record<string, unknown> | undefined;
  delete raw['oidc'];
  if (!oidc) return;
  if (!oidc['issuer'] || !oidc['audience']) throw new ConfigError('invalid configuration: --oidc-issuer and --oidc-audience go together');
  const auth = (raw['auth'] ??= {}) as Record<string, unknown>;
  const list = (auth['trustedIssuers'] ??= []) as unknown[];
  list.push(Object.fromEntries(Object.entries(oidc).filter(([, v]) => v !== undefined)));
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = (next && typeof next === 'object' ? next : (node[part] = {})) as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The base URL clients reach this node at, when not configured. */
export function defaultPublicUrl(config: Pick<Config, 'host' | 'port' | 'tlsCert' | 'publicUrl'>, boundPort?: number): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const scheme = config.tlsCert ? 'https' : 'http';
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const shown = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${shown}:${boundPort ?? config.port}`;
}
