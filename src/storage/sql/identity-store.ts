import { sql, type Kysely, type Selectable } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { AppRecord, CredentialRecord, CredentialStore, IdentityStore, SigningKeyRecord } from '../ports.js';
import type { AppsTable, CredentialsTable, Database } from './schema.js';

const toApp = (r: Selectable<AppsTable>): AppRecord => ({
  clientId: r.client_id,
  tenantId: r.tenant_id,
  name: r.name,
  secretHash: r.secret_hash,
  roles: JSON.parse(r.roles) as string[],
  createdAt: Number(r.created_at),
  disabledAt: r.disabled_at === null ? null : Number(r.disabled_at),
});

export function createSqlIdentityStore(db: Kysely<Database>, caps: DialectCapabilities): IdentityStore {
  return {
    async createApp(app) {
      await db
        .insertInto('apps')
        .values({
          client_id: app.clientId, tenant_id: app.tenantId, name: app.name, secret_hash: app.secretHash,
          roles: JSON.stringify(app.roles), created_at: app.createdAt, disabled_at: app.disabledAt,
        })
        .execute();
    },
    async findApp(tenantId, clientId) {
      const r = await db.selectFrom('apps').selectAll().where('tenant_id', '=', tenantId).where('client_id', '=', clientId).executeTakeFirst();
      return r ? toApp(r) : undefined;
    },
    async listApps(tenantId) {
      const rows = await db.selectFrom('apps').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').execute();
      return rows.map(toApp);
    },
    async disableApp(tenantId, clientId, at) {
      const r = await db
        .updateTable('apps')
        .set({ disabled_at: at })
        .where('tenant_id', '=', tenantId)
        .where('client_id', '=', clientId)
        .where('disabled_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async insertFirstSigningKey(key: SigningKeyRecord) {
      if (caps.dialect === 'sqlite') {
        // SQLite: one statement, which takes the write lock (waiting its busy timeout) before it
        // looks. A read followed by an insert in one transaction fails at once with "database is
        // locked" when another process committed its key in between (test/storage/first-signing-key.test.ts).
        await sql`insert into signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at)
          select ${key.kid}, ${key.alg}, ${key.privateJwk}, ${key.publicJwk}, ${key.createdAt}, ${key.retiredAt}
          where not exists (select 1 from signing_keys where retired_at is null)`.execute(db);
        return;
      }
      await db.transaction().execute(async (trx) => {
        // PostgreSQL: a transaction-scoped advisory lock serialises concurrent first starts.
        await sql`select pg_advisory_xact_lock(hashtext('bulwark_signing_keys:' || current_schema()))`.execute(trx);
        const existing = await trx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).limit(1).executeTakeFirst();
        if (existing) return;
        await trx
          .insertInto('signing_keys')
          .values({ kid: key.kid, alg: key.alg, private_jwk: key.privateJwk, public_jwk: key.publicJwk, created_at: key.createdAt, retired_at: key.retiredAt })
          .execute();
      });
    },
    async signingKeys() {
      const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
      return rows.map((r) => ({
        kid: r.kid, alg: r.alg, privateJwk: r.private_jwk, publicJwk: r.public_jwk,
        createdAt: Number(r.created_at), retiredAt: r.retired_at === null ? null : Number(r.retired_at),
      }));
    },
  };
}

const toCredential = (r: Selectable<CredentialsTable>): CredentialRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  kind: r.kind as CredentialRecord['kind'],
  name: r.name,
  provider: r.provider,
  tokenHash: r.token_hash,
  createdAt: Number(r.created_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  lastSeenAt: r.last_seen_at === null ? null : Number(r.last_seen_at),
  confirmedSeq: r.confirmed_seq === null ? null : Number(r.confirmed_seq),
});

export function createSqlCredentialStore(db: Kysely<Database>): CredentialStore {
  return {
    async create(c) {
      await db
        .insertInto('credentials')
        .values({
          id: c.id, tenant_id: c.tenantId, kind: c.kind, name: c.name, provider: c.provider, token_hash: c.tokenHash,
          created_at: c.createdAt, revoked_at: c.revokedAt, last_seen_at: c.lastSeenAt, confirmed_seq: c.confirmedSeq,
        })
        .execute();
    },
    async findByHash(tokenHash) {
      const r = await db.selectFrom('credentials').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
      return r ? toCredential(r) : undefined;
    },
    async list(tenantId, kind) {
      let q = db.selectFrom('credentials').selectAll().where('tenant_id', '=', tenantId);
      if (kind) q = q.where('kind', '=', kind);
      return (await q.orderBy('created_at').execute()).map(toCredential);
    },
    async revoke(tenantId, id, at) {
      const r = await db
        .updateTable('credentials')
        .set({ revoked_at: at })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async touch(id, at) {
      await db.updateTable('credentials').set({ last_seen_at: at }).where('id', '=', id).execute();
    },
  };
}
