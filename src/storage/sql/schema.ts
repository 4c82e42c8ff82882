import type { Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Times are epoch milliseconds (BIGINT on PostgreSQL, parsed to
 * numbers by the driver set-up in `dialects.ts`); JSON columns are TEXT holding JSON. Every table
 * that holds tenant data leads with `tenant_id`, and every index starts with it.
 */
export interface ActionsTable {
  seq: Generated<number>;
  tenant_id: string;
  id: string;
  name: string;
  status: string;
  action_reason: string | null;
  app_id: string | null;
  user_name: string | null;
  client_context: string | null;
  provider: string | null;
  vendor: string | null;
  sub_provider: string | null;
  provider_version: string | null;
  indicator_type: string;
  indicator: string;
  /** JSON `KeyValuePair[]` */
  parameters: string;
  /** JSON `SecurityActionState[]`, appended atomically */
  states: string;
  /** JSON `ResultInfo` or null */
  error_info: string | null;
  /** JSON object of open-type properties, or null */
  extra: string | null;
  created_at: number;
  last_action_at: number;
  completed_at: number | null;
  cancelled_at: number | null;
  expires_at: number | null;
  /** set when the engine noticed the expiry and queued the withdrawal */
  expired_at: number | null;
  /** set once the engine has added this action to the provider ledger (exactly once) */
  applied_at: number | null;
  /** set once the engine has removed this action from the provider ledger (exactly once) */
  withdrawn_at: number | null;
}

/** One row per parameter, so `parameters/any(…)` is an indexed EXISTS. */
export interface ActionParametersTable {
  action_seq: number;
  tenant_id: string;
  name: string;
  value: string | null;
}

/** SQLite only (migration 002): raised by triggers on every write to the tenant's actions. */
export interface ActionVersionsTable {
  tenant_id: string;
  version: number;
}

export interface AppsTable {
  client_id: string;
  tenant_id: string;
  name: string;
  /** `sha256$<hex>` of the client secret; the secret itself is never stored */
  secret_hash: string;
  /** JSON string[] */
  roles: string;
  created_at: number;
  disabled_at: number | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** JSON JWK */
  private_jwk: string;
  /** JSON JWK */
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/** Feed readers and enforcement agents: read-only bearer credentials, stored as hashes. */
export interface CredentialsTable {
  id: string;
  tenant_id: string;
  kind: string; // 'feed' | 'agent'
  name: string;
  /** the provider an agent enforces for; null for feed credentials */
  provider: string | null;
  token_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
  /** agents: highest change-stream cursor the agent confirmed applied */
  confirmed_seq: number | null;
}

/** Durable engine work, claimed with a lease. */
export interface JobsTable {
  id: Generated<number>;
  tenant_id: string;
  action_seq: number;
  kind: string; // 'apply' | 'withdraw'
  provider: string;
  run_at: number;
  attempts: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  /** JSON step state carried between attempts (e.g. what a withdrawal already did) */
  payload: string | null;
  created_at: number;
}

/** What is blocked right now, per tenant and provider, with overlap counts. */
export interface LedgerTable {
  tenant_id: string;
  provider: string;
  indicator_type: string;
  indicator: string;
  refcount: number;
  /** latest expiry among the covering actions; null when any of them never expires */
  expires_at: number | null;
  /** seq of the change that last put this entry in its current form */
  change_seq: number;
}

/** Head of one change stream (tenant × provider); see migration 001 for why it exists. */
export interface StreamsTable {
  tenant_id: string;
  provider: string;
  head_seq: number;
  /** changes with seq ≤ this were pruned; a reader behind it needs a snapshot */
  pruned_through: number;
}

/** The change stream: every add/remove on the ledger, in commit order per tenant and provider. */
export interface ChangesTable {
  seq: number;
  tenant_id: string;
  provider: string;
  op: string; // 'add' | 'remove'
  indicator_type: string;
  indicator: string;
  expires_at: number | null;
  created_at: number;
}

/** Actions waiting for agents to confirm a change at or after `change_seq`. */
export interface ConfirmationsTable {
  tenant_id: string;
  provider: string;
  action_seq: number;
  kind: string; // 'apply' | 'withdraw'
  change_seq: number;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  actions: ActionsTable;
  action_parameters: ActionParametersTable;
  action_versions: ActionVersionsTable;
  apps: AppsTable;
  signing_keys: SigningKeysTable;
  credentials: CredentialsTable;
  jobs: JobsTable;
  ledger: LedgerTable;
  streams: StreamsTable;
  changes: ChangesTable;
  confirmations: ConfirmationsTable;
  meta: MetaTable;
}
