import { z } from 'zod';

const providerName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space, dot, underscore, hyphen; max 64');

const providerCommon = {
  provider: providerName,
  vendor: z.string().max(128).default('Bulwark'),
  enabled: z.boolean().default(true),
  region: z.string().max(64).nullable().default(null),
  /** Restrict the provider to these tenants; absent = every tenant. */
  tenants: z.array(z.string()).optional(),
};

export const feedsProviderSchema = z.object({
  ...providerCommon,
  type: z.literal('feeds'),
  endpoint: z.string().max(2048).optional(),
});

export const webhookProviderSchema = z.object({
  ...providerCommon,
  type: z.literal('webhook'),
  endpoint: z.url({ protocol: /^https?$/ }),
  /** HMAC-SHA256 key for the `X-Bulwark-Signature` header. */
  secret: z.string().min(16, 'webhook secret must be at least 16 characters'),
  timeoutMs: z.number().int().min(100).max(120_000).default(5000),
  actions: z.array(z.string()).optional(),
});

export const agentProviderSchema = z.object({
  ...providerCommon,
  type: z.literal('agent'),
  endpoint: z.string().max(2048).optional(),
});

export const providerSchema = z.discriminatedUnion('type', [feedsProviderSchema, webhookProviderSchema, agentProviderSchema]);

export const trustedIssuerSchema = z.object({
  issuer: z.string().url(),
  audience: z.union([z.string(), z.array(z.string()).min(1)]).transform((a) => (Array.isArray(a) ? a : [a])),
  discoveryUrl: z.string().url().optional(),
  jwksUri: z.string().url().optional(),
  tenantClaim: z.string().default('tid'),
  tenantId: z.string().optional(),
  rolesClaim: z.string().default('roles'),
  allowedTenants: z.array(z.string()).optional(),
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).default(['RS256', 'ES256']),
});

/** The time limit of list and count queries on either store (query-time-limit.ts: `defaultQueryTimeoutMs`). */
const readTimeoutSeconds = z.number().int().min(1).max(3600).default(30);

export const configSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  dataDir: z.string().default('./data'),
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must start with postgres://').optional(),
  databaseSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/).optional(),
  databasePoolSize: z.number().int().min(1).max(200).default(10),
  /** `serve`: API processes sharing the listen port; above 1 the engine runs in a process of its own. */
  apiProcesses: z.number().int().min(1).max(64).default(1),
  sqliteSynchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
  /**
   * SQLite reads: a list query that examines more rows than `scanBudgetRows` moves from the event
   * loop to the read worker; a query on the worker is stopped (400) after `timeoutSeconds`, and one
   * that waited that long for its turn is refused (503).
   */
  sqliteReads: z
    .object({
      scanBudgetRows: z.number().int().min(100).max(100_000_000).default(50_000),
      timeoutSeconds: readTimeoutSeconds,
    })
    .strict()
    .prefault({}),
  /**
   * PostgreSQL reads: list and count queries use a pool of their own (`poolSize` connections per
   * process, beside `databasePoolSize`); one that waits `timeoutSeconds` for a connection is
   * refused (503), one that runs longer is stopped (400).
   */
  postgresReads: z
    .object({
      poolSize: z.number().int().min(1).max(200).default(4),
      timeoutSeconds: readTimeoutSeconds,
    })
    .strict()
    .prefault({}),
  /**
   * List and `$count` answers kept in memory per process and served again while none of the
   * tenant's actions has changed (SQLite; PostgreSQL keeps no data version, lists there are
   * always computed). `megabytes: 0` turns it off.
   */
  listCache: z
    .object({ megabytes: z.number().min(0).max(4096).default(32) })
    .strict()
    .prefault({}),
  /** Public base URL (issuer, links); default derived from host/port/TLS. */
  publicUrl: z.string().url().optional(),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  auth: z
    .object({
      audience: z.string().default('api://bulwark'),
      tokenLifetimeSeconds: z.number().int().min(60).max(86_400).default(3600),
      clockToleranceSeconds: z.number().int().min(0).max(600).default(60),
      trustedIssuers: z.array(trustedIssuerSchema).default([]),
    })
    .prefault({}),
  providers: z
    .array(providerSchema)
    .default([{ type: 'feeds', provider: 'feeds', vendor: 'Bulwark', enabled: true, region: null }]),
  defaultProvider: z.string().default('feeds'),
  guardrails: z
    .object({
      /** Extra entries that must never be blocked: IPs/CIDRs or domains. */
      protected: z.array(z.union([z.string(), z.object({ value: z.string(), label: z.string() })])).default([]),
      /** Keep the built-in safe defaults (loopback, link-local, multicast, own addresses, …). */
      includeDefaults: z.boolean().default(true),
    })
    .prefault({}),
  engine: z
    .object({
      enabled: z.boolean().default(true),
      maxAttempts: z.number().int().min(1).max(100).default(8),
      leaseMs: z.number().int().min(1000).max(3_600_000).default(30_000),
      backoffBaseMs: z.number().int().min(10).max(600_000).default(500),
      backoffMaxMs: z.number().int().min(100).max(3_600_000).default(60_000),
      concurrency: z.number().int().min(1).max(256).default(16),
      pollIntervalMs: z.number().int().min(50).max(60_000).default(1000),
    })
    .prefault({}),
  feeds: z
    .object({
      /** How long the change stream keeps history; readers further behind get a snapshot. */
      changeRetentionHours: z.number().min(1).max(24 * 365).default(168),
      /** SOA timers of `rpz.zone`; `refresh` is how often a resolver with `url:` re-checks. */
      rpz: z
        .object({
          ttl: z.number().int().min(0).max(86_400).default(60),
          refresh: z.number().int().min(1).max(86_400).default(60),
          retry: z.number().int().min(1).max(86_400).default(30),
          expire: z.number().int().min(60).max(2_419_200).default(86_400),
          minimum: z.number().int().min(0).max(86_400).default(60),
        })
        .prefault({}),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type TrustedIssuer = z.infer<typeof trustedIssuerSchema>;
