import type { Config } from '../config/schema.js';
import { defaultPublicUrl } from '../config/load.js';
import { SigningKeys } from '../auth/signing-keys.js';
import { TokenIssuer } from '../auth/token-issuer.js';
import { IdentityService } from '../services/identity-service.js';
import { openDatabase, type DatabaseHandle } from '../storage/sql/database.js';
import { createSqlIdentityStore, createSqlCredentialStore } from '../storage/sql/identity-store.js';
import { createSqlMetaStore } from '../storage/sql/meta-store.js';
import { createSqlAgentStore } from '../storage/sql/agent-store.js';
import { CredentialService } from '../services/credential-service.js';
import { buildProviderRegistry } from '../main.js';

/** What the operator commands share: the database (possibly in use by a running service) and identity. */
export async function withAdminContext<T>(
  config: Readonly<Config>,
  body: (ctx: { database: DatabaseHandle; identity: IdentityService; issuer: TokenIssuer; credentials: ReturnType<typeof createSqlCredentialStore>; credentialService: CredentialService; baseUrl: string }) => Promise<T>,
): Promise<T> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, schema: config.databaseSchema, poolSize: 2, sqliteSynchronous: config.sqliteSynchronous });
  try {
    const store = createSqlIdentityStore(database.db, database.caps);
    const keys = new SigningKeys(store);
    await keys.ensure();
    // Sign for the issuer the running service announced, so tokens verify there without flags.
    const baseUrl = config.publicUrl ? defaultPublicUrl(config) : ((await createSqlMetaStore(database.db).get('public_url')) ?? defaultPublicUrl(config));
    const issuer = new TokenIssuer(keys, { baseUrl, audience: config.auth.audience, lifetimeSeconds: config.auth.tokenLifetimeSeconds });
    const identity = new IdentityService(store, issuer, { audience: config.auth.audience, baseUrl });
    const credentials = createSqlCredentialStore(database.db);
    const credentialService = new CredentialService(credentials, createSqlAgentStore(database.db, database.caps), buildProviderRegistry(config, { baseUrl }));
    return await body({ database, identity, issuer, credentials, credentialService, baseUrl });
  } finally {
    await database.close();
  }
}
