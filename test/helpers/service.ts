import { randomUUID } from 'node:crypto';
import { SigningKeys } from '../../src/auth/signing-keys.js';
import { TokenIssuer } from '../../src/auth/token-issuer.js';
import { createSqlIdentityStore } from '../../src/storage/sql/identity-store.js';
import type { CredentialService } from '../../src/services/credential-service.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { startService, type RunningService } from '../../src/main.js';
import { roles } from '../../src/domain/security-action.js';
import type { Backend } from './backends.js';
import { sqliteBackend } from './backends.js';

export interface TestService {
  url: string;
  config: Readonly<Config>;
  service: RunningService;
  /** a fresh tenant id (one per test keeps tests independent without truncating tables) */
  newTenant(): string;
  /** mint a token through the real issuer (same keys as the service) */
  token(options?: { tenant?: string; roles?: string[]; user?: string; app?: string; lifetimeSeconds?: number }): Promise<string>;
  /** feed and agent credentials through the real service code */
  credentials(): CredentialService;
  /** fetch relative to the service URL */
  fetch(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  close(): Promise<void>;
}

export const readWrite = [roles.readWrite];
export const readOnly = [roles.read];

/**
 * Starts a real Bulwark in-process on a free port with fresh storage. `overrides` is a partial
 * config file (providers, guardrails, engine timings …).
 */
export async function startTestService(options: { backend?: Backend; overrides?: Record<string, unknown>; engine?: boolean } = {}): Promise<TestService> {
  const storage = await (options.backend ?? sqliteBackend).fresh();
  const config = loadConfig({
    env: {},
    flags: {
      port: 0,
      logLevel: process.env['BULWARK_TEST_LOG'] ?? 'silent',
      dataDir: storage.dataDir,
      ...(storage.databaseUrl ? { databaseUrl: storage.databaseUrl, databaseSchema: storage.databaseSchema } : {}),
      ...(options.overrides ?? {}),
    },
  });
  const service = await startService({ config, api: true, engine: options.engine ?? true });
  const defaultTenant = randomUUID();
  // The real issuer and keys, over the service's own database connection.
  const keys = new SigningKeys(createSqlIdentityStore(service.database.db, service.database.caps));
  await keys.ensure();
  const issuer = new TokenIssuer(keys, { baseUrl: service.url, audience: config.auth.audience, lifetimeSeconds: config.auth.tokenLifetimeSeconds });
  const harness: TestService = {
    url: service.url,
    config,
    service,
    newTenant: () => randomUUID(),
    async token(o = {}) {
      const issued = await issuer.issue({ tenantId: o.tenant ?? defaultTenant, appId: o.app ?? 'test-app', roles: o.roles ?? readWrite, user: o.user, lifetimeSeconds: o.lifetimeSeconds });
      return issued.accessToken;
    },
    credentials: () => service.credentials,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token) headers.set('authorization', `Bearer ${init.token}`);
      return fetch(`${service.url}${path}`, { ...init, headers });
    },
    async close() {
      await service.close();
      await storage.cleanup();
    },
  };
  return harness;
}
