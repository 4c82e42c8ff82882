/**
 * Every setting that can come from the environment or a command-line flag, defined once: the CLI
 * builds its options and `--help` from this table and `load.ts` applies it. Precedence:
 * defaults < config file < environment < flags.
 */
export interface Setting {
  /** dotted path in the config object */
  path: string;
  /** commander flag spec */
  flag: string;
  env: readonly string[];
  description: string;
  kind: 'string' | 'integer' | 'boolean';
}

export const settings: readonly Setting[] = [
  { path: 'host', flag: '--host <address>', env: ['HOST', 'BULWARK_HOST'], kind: 'string', description: 'listen address (default 127.0.0.1)' },
  { path: 'port', flag: '--port <number>', env: ['PORT', 'BULWARK_PORT'], kind: 'integer', description: 'listen port (default 8080)' },
  { path: 'dataDir', flag: '--data-dir <dir>', env: ['BULWARK_DATA_DIR'], kind: 'string', description: 'directory of the embedded SQLite database (default ./data)' },
  { path: 'databaseUrl', flag: '--database-url <url>', env: ['DATABASE_URL', 'BULWARK_DATABASE_URL'], kind: 'string', description: 'postgres://… to run on PostgreSQL instead of SQLite' },
  { path: 'databaseSchema', flag: '--database-schema <name>', env: ['BULWARK_DATABASE_SCHEMA'], kind: 'string', description: 'PostgreSQL schema to use (created if missing)' },
  { path: 'apiProcesses', flag: '--api-processes <n>', env: ['BULWARK_API_PROCESSES'], kind: 'integer', description: 'serve: HTTP API processes sharing the port (default 1; the engine runs beside them)' },
  { path: 'databasePoolSize', flag: '--database-pool-size <n>', env: ['BULWARK_DATABASE_POOL_SIZE'], kind: 'integer', description: 'PostgreSQL connections per process (default 10)' },
  { path: 'publicUrl', flag: '--public-url <url>', env: ['BULWARK_PUBLIC_URL'], kind: 'string', description: 'public base URL used as token issuer and in links (default from host/port)' },
  { path: 'tlsCert', flag: '--tls-cert <file>', env: ['BULWARK_TLS_CERT'], kind: 'string', description: 'PEM certificate: serve HTTPS' },
  { path: 'tlsKey', flag: '--tls-key <file>', env: ['BULWARK_TLS_KEY'], kind: 'string', description: 'PEM private key for --tls-cert' },
  { path: 'logLevel', flag: '--log-level <level>', env: ['BULWARK_LOG_LEVEL'], kind: 'string', description: 'fatal|error|warn|info|debug|trace|silent (default info)' },
  { path: 'auth.audience', flag: '--audience <aud>', env: ['BULWARK_AUDIENCE'], kind: 'string', description: 'aud of issued tokens (default api://bulwark)' },
  { path: 'defaultProvider', flag: '--default-provider <name>', env: ['BULWARK_DEFAULT_PROVIDER'], kind: 'string', description: 'provider used when vendorInformation.provider is absent (default feeds)' },
  { path: 'oidc.issuer', flag: '--oidc-issuer <url>', env: ['BULWARK_OIDC_ISSUER'], kind: 'string', description: 'trust access tokens from this external OIDC issuer ({tenantid} allowed)' },
  { path: 'oidc.audience', flag: '--oidc-audience <aud>', env: ['BULWARK_OIDC_AUDIENCE'], kind: 'string', description: 'required aud of external tokens' },
  { path: 'oidc.discoveryUrl', flag: '--oidc-discovery-url <url>', env: ['BULWARK_OIDC_DISCOVERY_URL'], kind: 'string', description: 'discovery document (default {issuer}/.well-known/openid-configuration)' },
  { path: 'oidc.tenantClaim', flag: '--oidc-tenant-claim <claim>', env: ['BULWARK_OIDC_TENANT_CLAIM'], kind: 'string', description: 'claim holding the tenant id (default tid)' },
  { path: 'oidc.tenantId', flag: '--oidc-tenant-id <tid>', env: ['BULWARK_OIDC_TENANT_ID'], kind: 'string', description: 'fixed tenant for issuers without a tenant claim' },
  { path: 'oidc.rolesClaim', flag: '--oidc-roles-claim <claim>', env: ['BULWARK_OIDC_ROLES_CLAIM'], kind: 'string', description: 'claim holding app roles (default roles)' },
];

export const configFileSetting = { flag: '--config <file>', env: 'BULWARK_CONFIG', description: 'JSON or YAML configuration file' } as const;
