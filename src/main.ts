import fs from 'node:fs';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { ExternalIssuers } from './auth/external-issuers.js';
import { SigningKeys } from './auth/signing-keys.js';
import { TokenIssuer } from './auth/token-issuer.js';
import { TokenVerifier } from './auth/token-verifier.js';
import { defaultPublicUrl } from './config/load.js';
import type { Config } from './config/schema.js';
import type { Site } from './config/site.js';
import { defaultProtectedEntries, Guardrails, type ProtectedEntry } from './domain/guardrails.js';
import { buildApp } from './http/app.js';
import { createTurnGate } from './http/turn-gate.js';
import { createAgentProvider } from './providers/agent/agent-provider.js';
import { createFeedsProvider } from './providers/feeds/feeds-provider.js';
import { ProviderRegistry } from './providers/registry.js';
import { createWebhookProvider } from './providers/webhook/webhook-provider.js';
import { ActionService } from './services/action-service.js';
import { IdentityService } from './services/identity-service.js';
import { openDatabase, type DatabaseHandle } from './storage/sql/database.js';
import { createSqlActionStore } from './storage/sql/action-store.js';
import { createSqlIdentityStore } from './storage/sql/identity-store.js';
import { migrationsCurrent } from './storage/sql/migrate.js';
import { createSqlMetaStore } from './storage/sql/meta-store.js';
import { createSqlEngineStore } from './storage/sql/engine-store.js';
import { createSqlAgentStore } from './storage/sql/agent-store.js';
import { createSqlLedgerStore } from './storage/sql/ledger-store.js';
import { createSqlCredentialStore } from './storage/sql/identity-store.js';
import { createSqlProviderWorkStats } from './storage/sql/provider-work-stats.js';
import { ChangeStreamService } from './services/change-stream-service.js';
import { CredentialService } from './services/credential-service.js';
import { FeedService } from './services/feed-service.js';
import { SecurityService } from './services/security-service.js';
import { Engine } from './engine/engine.js';
import { sql, type Kysely } from 'kysely';
import type { ActionStore, AgentStore, CredentialStore, Notifier, ProviderWorkStats } from './storage/ports.js';
import type { WriteStores } from './cluster/write-calls.js';
import { Metrics } from './metrics/metrics.js';
import { Maintenance } from './engine/maintenance.js';
import { ResponseCache } from './http/response-cache.js';

export interface ServiceOptions {
  config: Readonly<Config>;
  /** serve the HTTP API (false for `bulwark worker`) */
  api: boolean;
  /** run the engine in this process (false for `serve --no-engine`) */
  engine: boolean;
  logger?: Logger;
  /** SQLite wake-ups between the processes of `serve --api-processes N` (see cluster/) */
  sqliteNotifier?: Notifier;
  /** where the API's writes go instead of this process's own database handle (an API process of a SQLite cluster hands them to the primary) */
  writes?: WriteStores;
  /** an API process of `serve --api-processes N`: `/metrics` serves the sum the primary gathers (cluster/metrics-relay.ts), and the database-derived gauges are left to the primary */
  metricsFromPrimary?: (own: Metrics) => () => Promise<string>;
}

export interface RunningService {
  /** the base URL the listener is reachable at */
  url: string;
  app?: FastifyInstance;
  database: DatabaseHandle;
  /** feed and agent credentials (what `bulwark feeds credential` and `bulwark agents add` use) */
  credentials: CredentialService;
  /** this process's own stores for the writes API processes may forward (the primary answers with them) */
  writeStores: WriteStores;
  /** this process's own metrics (the cluster primary gathers its API processes' into one scrape) */
  metrics: Metrics;
  logger: Logger;
  close(): Promise<void>;
}

export function createLogger(level: Config['logLevel']): Logger {
  return pino({
    level,
    base: { service: 'bulwark', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Belt and braces: nothing that could carry a credential is ever serialised.
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'token', 'secret', 'clientSecret', 'password'], remove: true },
  });
}

/** The composition root: config → database → registries → app (+ engine). Closes in reverse order. */
export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.databaseSchema,
    poolSize: config.databasePoolSize,
    sqliteSynchronous: config.sqliteSynchronous,
    sqliteReader: { scanBudgetRows: config.sqliteReads.scanBudgetRows, queryTimeoutMs: config.sqliteReads.timeoutSeconds * 1000 },
    postgresReads: { poolSize: config.postgresReads.poolSize, timeoutMs: config.postgresReads.timeoutSeconds * 1000 },
    sqliteNotifier: options.sqliteNotifier,
    onError: (e) => logger.warn({ err: e.message }, 'database connection error'),
  });
  const closers: (() => Promise<void>)[] = [() => database.close()];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const c of [...closers].reverse()) await c().catch((e: Error) => logger.error({ err: e.message }, 'error during shutdown'));
    })());

  try {
    const site: Site = { baseUrl: defaultPublicUrl(config) };
    const providers = buildProviderRegistry(config, site);
    const work = createSqlProviderWorkStats(database.db);
    const engineStore = createSqlEngineStore({ db: database.db, leaseDb: database.leaseDb, caps: database.caps, notifier: database.notifier });
    const ownAgents = createSqlAgentStore(database.db, database.caps);
    const ownActions = createSqlActionStore({ db: database.db, caps: database.caps, reader: database.reader, postgresReader: database.postgresReader, notifier: database.notifier });
    const agentStore: AgentStore = options.writes ? { ...ownAgents, confirm: options.writes.agents.confirm } : ownAgents;
    const actionStore: ActionStore = options.writes ? { ...ownActions, create: options.writes.actions.create, cancel: options.writes.actions.cancel } : ownActions;
    const credentialStore = createSqlCredentialStore(database.db);
    const credentials = new CredentialService(credentialStore, agentStore, providers);
    const gauges = { actionsByStatus: cached(10_000, () => work.actionsByStatus()), backlog: () => engineStore.backlog(Date.now()) };
    const { reader, postgresReader } = database;
    // SQLite only: PostgreSQL keeps no data version to check answers against (migration 002).
    const listCache =
      options.api && config.listCache.megabytes > 0 && database.caps.dialect === 'sqlite' ? new ResponseCache(Math.round(config.listCache.megabytes * 1024 * 1024)) : undefined;
    const metrics = new Metrics({
      ...(options.metricsFromPrimary ? {} : { gauges }),
      ...(listCache ? { listCache } : {}),
      ...(reader ? { offloadedQueries: () => reader.offloaded } : {}),
      abandonedQueries: () => (reader?.abandoned ?? 0) + (postgresReader?.abandoned ?? 0),
    });
    if (options.metricsFromPrimary) metrics.render = options.metricsFromPrimary(metrics);

    if (options.engine && config.engine.enabled) {
      const engine = new Engine({
        store: engineStore,
        providers,
        notifier: database.notifier,
        logger: logger.child({ component: 'engine' }),
        settings: config.engine,
        parallelBatches: database.caps.skipLocked ? 4 : 1,
        metrics: {
          step: (provider, kind, outcome) => metrics.engineSteps.inc({ provider, kind, outcome }),
          providerError: (provider, final) => metrics.providerErrors.inc({ provider, final: String(final) }),
        },
      });
      const maintenance = new Maintenance({ agents: agentStore, logger, retentionMs: config.feeds.changeRetentionHours * 3_600_000 });
      engine.start();
      maintenance.start();
      closers.push(async () => {
        maintenance.stop();
        await engine.stop();
      });
    }

    let app: FastifyInstance | undefined;
    if (options.api) {
      app = await startApi({ config, database, providers, actionStore, agentStore, credentialStore, credentials, work, metrics, logger, site, listCache });
      const api = app;
      closers.push(() => api.close());
    }
    return { url: site.baseUrl, app, database, credentials, writeStores: { actions: ownActions, agents: ownAgents }, metrics, logger, close };
  } catch (e) {
    await close();
    throw e;
  }
}

interface ApiParts {
  config: Readonly<Config>;
  database: DatabaseHandle;
  providers: ProviderRegistry;
  actionStore: ActionStore;
  agentStore: AgentStore;
  credentialStore: CredentialStore;
  credentials: CredentialService;
  work: ProviderWorkStats;
  metrics: Metrics;
  logger: Logger;
  site: Site;
  listCache: ResponseCache | undefined;
}

/** Identity, services and routes; listens, then fixes the public URL (the port may have been 0). */
async function startApi({ config, database, providers, actionStore, agentStore, credentialStore, credentials, work, metrics, logger, site, listCache }: ApiParts): Promise<FastifyInstance> {
  const identityStore = createSqlIdentityStore(database.db, database.caps);
  const keys = new SigningKeys(identityStore);
  await keys.ensure();
  const baseUrl = () => site.baseUrl;
  const issuer = new TokenIssuer(keys, { get baseUrl() { return baseUrl(); }, audience: config.auth.audience, lifetimeSeconds: config.auth.tokenLifetimeSeconds });
  const verifier = new TokenVerifier(
    keys,
    { get baseUrl() { return baseUrl(); }, audiences: [config.auth.audience], clockToleranceSeconds: config.auth.clockToleranceSeconds },
    new ExternalIssuers(config.auth.trustedIssuers.map((t) => ({ ...t }))),
  );
  const ledger = createSqlLedgerStore(database.db);
  const changes = new ChangeStreamService(ledger, database.notifier);
  const app = buildApp({
    logger,
    site,
    verifier,
    keys,
    metrics,
    // Only where queries block the loop: on PostgreSQL requests yield at every query, and the gate
    // cost get 15–20 % there while a new connection waited ~0.1 s either way (decision 0010, row 13).
    turnGate: database.caps.synchronousQueries ? createTurnGate() : undefined,
    listCache,
    actions: new ActionService({
      store: actionStore,
      providers,
      guardrails: buildGuardrails(config, site),
    }),
    identity: new IdentityService(identityStore, issuer, { audience: config.auth.audience, get baseUrl() { return baseUrl(); } }),
    health: {
      ready: async (): Promise<{ ok: boolean; checks: Record<string, string> }> => {
        try {
          await sql`select 1`.execute(database.db);
        } catch (e) {
          return { ok: false, checks: { database: `unreachable: ${(e as Error).message.slice(0, 200)}` } };
        }
        const current = await migrationsCurrent(database.db as Kysely<unknown>);
        return { ok: current, checks: { database: 'ok', migrations: current ? 'current' : 'pending' } };
      },
    },
    https: config.tlsCert && config.tlsKey ? { cert: fs.readFileSync(config.tlsCert), key: fs.readFileSync(config.tlsKey) } : undefined,
    feeds: { feeds: new FeedService(ledger), changes, credentials, providers, rpz: config.feeds.rpz, metrics },
    agents: { changes, credentials, agents: agentStore, metrics },
    security: new SecurityService({ providers, ledger, credentials: credentialStore, work, defaultProvider: config.defaultProvider }),
  });
  // Shutdown must not wait for clients: answer open long polls, tell every later response to close
  // its connection, and drop keep-alive connections as they fall idle (Node only closes the ones
  // idle at the moment close() starts; an agent's connection becomes idle just after).
  let closing = false;
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  app.addHook('preClose', async () => {
    closing = true;
    changes.close();
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  site.baseUrl = defaultPublicUrl(config, typeof address === 'object' && address ? address.port : config.port);
  // The CLI's `bulwark token` signs with this issuer URL unless told otherwise.
  await createSqlMetaStore(database.db).set('public_url', site.baseUrl);
  return app;
}

/** Memoises an expensive async read for `ms` (metrics scrapes must not scan a big table each time). */
function cached<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let value: { at: number; v: Promise<T> } | undefined;
  return () => {
    if (!value || Date.now() - value.at > ms) value = { at: Date.now(), v: read().catch((e: unknown) => ((value = undefined), Promise.reject(e))) };
    return value.v;
  };
}

export function buildProviderRegistry(config: Readonly<Config>, site: Site): ProviderRegistry {
  const registry = new ProviderRegistry(config.defaultProvider);
  const baseUrl = () => site.baseUrl;
  for (const p of config.providers) {
    switch (p.type) {
      case 'feeds':
        registry.register(createFeedsProvider(p, baseUrl));
        break;
      case 'agent':
        registry.register(createAgentProvider(p, baseUrl));
        break;
      case 'webhook':
        registry.register(createWebhookProvider(p));
        break;
      default:
        p satisfies never;
    }
  }
  return registry;
}

function buildGuardrails(config: Readonly<Config>, site: Site): Guardrails {
  const configured: ProtectedEntry[] = config.guardrails.protected.map((e) => (typeof e === 'string' ? { value: e, label: 'configured' } : e));
  if (!config.guardrails.includeDefaults) return Guardrails.from(configured);
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const addresses = wildcard
    ? Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.split('%')[0]!))
    : [config.host].filter((h) => /^[0-9.]+$|:/.test(h));
  const publicHost = new URL(site.baseUrl).hostname.replace(/^\[|\]$/g, '');
  const hostnames = [config.host, publicHost].filter((h) => /[a-z]/i.test(h) && !h.includes(':'));
  const ipHosts = [publicHost].filter((h) => /^[0-9.]+$|:/.test(h));
  return Guardrails.from([...defaultProtectedEntries({ addresses: [...new Set([...addresses, ...ipHosts])], hostnames: [...new Set(hostnames)] }), ...configured]);
}
