import { sql, type ColumnDefinitionBuilder, type Kysely } from 'kysely';
import type { DialectCapabilities } from '../../dialects.js';

/** The initial schema; see `schema.ts` for what each column means. */
export async function up(db: Kysely<unknown>, caps: DialectCapabilities): Promise<void> {
  const text = caps.textType;
  const big = caps.bigintType;
  const serialType = caps.dialect === 'postgres' ? 'bigint' : 'integer';
  const serial = (b: ColumnDefinitionBuilder) =>
    caps.dialect === 'postgres' ? b.primaryKey().generatedAlwaysAsIdentity() : b.primaryKey().autoIncrement();

  await db.schema
    .createTable('actions')
    .addColumn('seq', serialType, serial)
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('id', text, (c) => c.notNull())
    .addColumn('name', text, (c) => c.notNull())
    .addColumn('status', text, (c) => c.notNull())
    .addColumn('action_reason', text)
    .addColumn('app_id', text)
    .addColumn('user_name', text)
    .addColumn('client_context', text)
    .addColumn('provider', text)
    .addColumn('vendor', text)
    .addColumn('sub_provider', text)
    .addColumn('provider_version', text)
    .addColumn('indicator_type', text, (c) => c.notNull())
    .addColumn('indicator', text, (c) => c.notNull())
    .addColumn('parameters', 'text', (c) => c.notNull())
    .addColumn('states', 'text', (c) => c.notNull())
    .addColumn('error_info', 'text')
    .addColumn('extra', 'text')
    .addColumn('created_at', big, (c) => c.notNull())
    .addColumn('last_action_at', big, (c) => c.notNull())
    .addColumn('completed_at', big)
    .addColumn('cancelled_at', big)
    .addColumn('expires_at', big)
    .addColumn('expired_at', big)
    .addColumn('applied_at', big)
    .addColumn('withdrawn_at', big)
    .execute();
  await db.schema.createIndex('actions_tenant_id').unique().on('actions').columns(['tenant_id', 'id']).execute();
  await db.schema.createIndex('actions_tenant_seq').on('actions').columns(['tenant_id', 'seq']).execute();
  await db.schema.createIndex('actions_tenant_status').on('actions').columns(['tenant_id', 'status', 'seq']).execute();
  await db.schema.createIndex('actions_tenant_name').on('actions').columns(['tenant_id', 'name', 'seq']).execute();
  await db.schema.createIndex('actions_tenant_created').on('actions').columns(['tenant_id', 'created_at', 'seq']).execute();
  await db.schema
    .createIndex('actions_tenant_indicator')
    .on('actions')
    .columns(['tenant_id', 'provider', 'indicator_type', 'indicator'])
    .execute();
  await db.schema
    .createIndex('actions_expiry')
    .on('actions')
    .column('expires_at')
    .where(sql.ref('cancelled_at'), 'is', null)
    .where(sql.ref('expired_at'), 'is', null)
    .where(sql.ref('expires_at'), 'is not', null)
    .execute();

  await db.schema
    .createTable('action_parameters')
    .addColumn('action_seq', big, (c) => c.notNull())
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('name', text, (c) => c.notNull())
    .addColumn('value', text)
    .execute();
  await db.schema.createIndex('action_parameters_seq').on('action_parameters').column('action_seq').execute();
  await db.schema
    .createIndex('action_parameters_value')
    .on('action_parameters')
    .columns(['tenant_id', 'name', 'value'])
    .execute();

  await db.schema
    .createTable('apps')
    .addColumn('client_id', text, (c) => c.primaryKey())
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('name', text, (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('roles', 'text', (c) => c.notNull())
    .addColumn('created_at', big, (c) => c.notNull())
    .addColumn('disabled_at', big)
    .execute();
  await db.schema.createIndex('apps_tenant').on('apps').columns(['tenant_id', 'created_at']).execute();

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', text, (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('private_jwk', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('created_at', big, (c) => c.notNull())
    .addColumn('retired_at', big)
    .execute();

  await db.schema
    .createTable('credentials')
    .addColumn('id', text, (c) => c.primaryKey())
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('kind', text, (c) => c.notNull())
    .addColumn('name', text, (c) => c.notNull())
    .addColumn('provider', text)
    .addColumn('token_hash', text, (c) => c.notNull().unique())
    .addColumn('created_at', big, (c) => c.notNull())
    .addColumn('revoked_at', big)
    .addColumn('last_seen_at', big)
    .addColumn('confirmed_seq', big)
    .execute();
  await db.schema.createIndex('credentials_tenant').on('credentials').columns(['tenant_id', 'kind', 'provider']).execute();

  await db.schema
    .createTable('jobs')
    .addColumn('id', serialType, serial)
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('action_seq', big, (c) => c.notNull())
    .addColumn('kind', text, (c) => c.notNull())
    .addColumn('provider', text, (c) => c.notNull())
    .addColumn('run_at', big, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('lease_owner', text)
    .addColumn('lease_until', big)
    .addColumn('last_error', 'text')
    .addColumn('payload', 'text')
    .addColumn('created_at', big, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('jobs_due').on('jobs').columns(['run_at', 'id']).execute();
  await db.schema.createIndex('jobs_action').on('jobs').columns(['action_seq', 'kind']).unique().execute();

  await db.schema
    .createTable('ledger')
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('provider', text, (c) => c.notNull())
    .addColumn('indicator_type', text, (c) => c.notNull())
    .addColumn('indicator', text, (c) => c.notNull())
    .addColumn('refcount', 'integer', (c) => c.notNull())
    .addColumn('expires_at', big)
    .addColumn('change_seq', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('ledger_pk', ['tenant_id', 'provider', 'indicator_type', 'indicator'])
    .execute();

  // One row per change stream (tenant × provider). Bumping `head_seq` inside the writing
  // transaction serialises writers per stream, so cursor order is commit order on PostgreSQL too.
  await db.schema
    .createTable('streams')
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('provider', text, (c) => c.notNull())
    .addColumn('head_seq', big, (c) => c.notNull())
    .addColumn('pruned_through', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('streams_pk', ['tenant_id', 'provider'])
    .execute();

  await db.schema
    .createTable('changes')
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('provider', text, (c) => c.notNull())
    .addColumn('seq', big, (c) => c.notNull())
    .addColumn('op', text, (c) => c.notNull())
    .addColumn('indicator_type', text, (c) => c.notNull())
    .addColumn('indicator', text, (c) => c.notNull())
    .addColumn('expires_at', big)
    .addColumn('created_at', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('changes_pk', ['tenant_id', 'provider', 'seq'])
    .execute();
  await db.schema.createIndex('changes_age').on('changes').columns(['created_at']).execute();

  await db.schema
    .createTable('confirmations')
    .addColumn('tenant_id', text, (c) => c.notNull())
    .addColumn('provider', text, (c) => c.notNull())
    .addColumn('action_seq', big, (c) => c.notNull())
    .addColumn('kind', text, (c) => c.notNull())
    .addColumn('change_seq', big, (c) => c.notNull())
    .addPrimaryKeyConstraint('confirmations_pk', ['action_seq', 'kind'])
    .execute();
  await db.schema
    .createIndex('confirmations_wait')
    .on('confirmations')
    .columns(['tenant_id', 'provider', 'change_seq'])
    .execute();

  await db.schema
    .createTable('meta')
    .addColumn('key', text, (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}
