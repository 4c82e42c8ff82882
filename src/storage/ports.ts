import type { FilterNode, OrderByKey } from '../odata/ast.js';
import type { Indicator } from '../domain/indicators/indicator.js';
import type { SecurityAction, SecurityActionState, ResultInfo } from '../domain/security-action.js';

/** Where the next page starts: the sort-key values and `seq` of the last row returned. */
export interface KeysetPosition {
  values: (string | number | null)[];
  seq: number;
}

export interface ListQuery {
  filter?: FilterNode | undefined;
  orderBy: readonly OrderByKey[];
  /** page size (0..1000) */
  top: number;
  skip?: number | undefined;
  after?: KeysetPosition | undefined;
  /** aborts when nobody waits for the answer any more (the client went away) */
  signal?: AbortSignal | undefined;
}

export interface ListPage {
  items: SecurityAction[];
  /** present when more rows follow */
  next?: KeysetPosition;
}

export type CancelOutcome = 'cancelled' | 'alreadyCancelled' | 'notFound';

/** Actions as the API sees them. Every method takes the tenant first. */
export interface ActionStore {
  /** Stores the action and, in the same transaction, its engine work (`provider`), or none. */
  create(action: SecurityAction, work: { provider: string } | null): Promise<void>;
  get(tenantId: string, id: string): Promise<SecurityAction | undefined>;
  list(tenantId: string, query: ListQuery): Promise<ListPage>;
  /** `signal`: as `ListQuery.signal` */
  count(tenantId: string, filter?: FilterNode, signal?: AbortSignal): Promise<number>;
  /**
   * A number that changes whenever any of the tenant's actions changes, read from what is
   * committed: while it is the same, every list and count of the tenant answers the same. Undefined
   * where the store keeps none (PostgreSQL).
   */
  dataVersion(tenantId: string): Promise<number | undefined>;
  /**
   * Marks the action cancelled and records `state`. Work not yet dispatched is dropped (and the
   * action ends); otherwise a withdrawal is queued for the engine.
   */
  cancel(tenantId: string, id: string, state: SecurityActionState): Promise<CancelOutcome>;
}

export interface AppRecord {
  clientId: string;
  tenantId: string;
  name: string;
  secretHash: string;
  roles: string[];
  createdAt: number;
  disabledAt: number | null;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  privateJwk: string;
  publicJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

export interface IdentityStore {
  createApp(app: AppRecord): Promise<void>;
  findApp(tenantId: string, clientId: string): Promise<AppRecord | undefined>;
  listApps(tenantId: string): Promise<AppRecord[]>;
  disableApp(tenantId: string, clientId: string, at: number): Promise<boolean>;
  /**
   * Inserts `key` only when no unretired key exists, atomically across nodes (several nodes
   * starting on an empty database end up with one key, not one each).
   */
  insertFirstSigningKey(key: SigningKeyRecord): Promise<void>;
  signingKeys(): Promise<SigningKeyRecord[]>;
}

export interface CredentialRecord {
  id: string;
  tenantId: string;
  kind: 'feed' | 'agent';
  name: string;
  provider: string | null;
  tokenHash: string;
  createdAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
  confirmedSeq: number | null;
}

export interface CredentialStore {
  create(c: CredentialRecord): Promise<void>;
  findByHash(tokenHash: string): Promise<CredentialRecord | undefined>;
  list(tenantId: string, kind?: 'feed' | 'agent'): Promise<CredentialRecord[]>;
  revoke(tenantId: string, id: string, at: number): Promise<boolean>;
  touch(id: string, at: number): Promise<void>;
}

export interface LedgerEntry {
  indicator: Indicator;
  refcount: number;
  expiresAt: number | null;
  changeSeq: number;
}

export interface Change {
  seq: number;
  op: 'add' | 'remove';
  indicator: Indicator;
  expiresAt: number | null;
}

/** The published state of one tenant's provider: what feeds serve and agents enforce. */
export interface LedgerStore {
  /** Every active entry plus the cursor that snapshot corresponds to, read consistently. */
  snapshot(tenantId: string, provider: string): Promise<{ cursor: number; entries: LedgerEntry[] }>;
  /**
   * Changes after `since`, at most `limit`; `tooOld` when entries after `since` were pruned
   * (the reader must take a snapshot instead).
   */
  changesSince(tenantId: string, provider: string, since: number, limit: number): Promise<{ changes: Change[]; cursor: number; tooOld: boolean }>;
  stats(tenantId: string, provider: string): Promise<{ entries: number; cursor: number }>;
}

export interface Job {
  id: number;
  tenantId: string;
  actionSeq: number;
  kind: 'apply' | 'withdraw';
  provider: string;
  attempts: number;
  payload: Record<string, unknown> | null;
  lastError: string | null;
}

/** What a finished step does to the action, committed atomically with the ledger change. */
export interface Transition {
  status: SecurityAction['status'];
  reason: string;
  errorInfo?: ResultInfo | null;
  /** sets completedDateTime */
  ends?: boolean;
}

export type { SecurityAction, SecurityActionState };

/** An action with the engine's bookkeeping, as a job step sees it. */
export interface ActionSnapshot extends SecurityAction {
  seq: number;
  appliedAt: number | null;
  withdrawnAt: number | null;
  expiredAt: number | null;
}

/**
 * A position in a change stream: known (`seq`), or `pending` — the change is written, and its
 * number assigned, at the end of the transaction, so the stream's head row is locked only briefly
 * (docs/decisions/0005-change-stream.md).
 */
export type ChangeRef = { seq: number } | { pending: true };

/**
 * One job step's view of the database, inside one transaction that holds the job's lease. Ledger
 * operations are idempotent per action (guarded by `appliedAt`/`withdrawnAt`), which is what makes
 * a step safe to redo after a crash.
 */
export interface JobTransaction {
  readonly action: ActionSnapshot;
  readonly now: number;
  /**
   * Adds the action's indicator to its provider's ledger; undefined when already applied.
   * `published`: a change was appended (a new entry or a later expiry), `change` is pending;
   * otherwise `change` is the change that already put the entry in force.
   */
  ledgerAdd(): Promise<{ refcount: number; published: boolean; change: ChangeRef } | undefined>;
  /** Removes it; undefined when it was never applied or is already withdrawn; `change` null when none was needed. */
  ledgerRemove(): Promise<{ remaining: number; change: ChangeRef | null } | undefined>;
  /** Writes the changes appended so far and returns the number of the last one (push payloads need it). */
  publishNow(): Promise<number | null>;
  /** Appends a state and updates status, lastActionDateTime, completedDateTime and errorInfo. */
  transition(t: Transition): Promise<void>;
  /** The action completes when every registered agent has confirmed `change`. */
  awaitConfirmations(kind: 'apply' | 'withdraw', change: ChangeRef): Promise<void>;
  /** Registered agents of the action's provider and the lowest cursor they all confirmed. */
  agents(): Promise<{ count: number; minConfirmed: number }>;
  /** Drops the action's pending apply job unless a worker holds it right now. */
  dropApplyJob(): Promise<'dropped' | 'inFlight' | 'none'>;
}

export type JobDisposition =
  /** the step is done: delete the job */
  | { kind: 'finish' }
  /** keep the job and its lease (a next phase follows in this process) */
  | { kind: 'keep'; payload: Record<string, unknown> }
  /** release the job to run again at `runAt` */
  | { kind: 'retry'; runAt: number; error: string; payload?: Record<string, unknown> };

export interface EngineStore {
  /**
   * Leases up to `limit` due jobs to `owner` (SKIP LOCKED on PostgreSQL), counting an attempt each;
   * not those of the `exclude`d providers.
   */
  claim(owner: string, now: number, leaseMs: number, limit: number, exclude?: readonly string[]): Promise<Job[]>;
  /**
   * Runs one step in a transaction fenced by the lease: 'lost' when another worker took the job.
   * A job the step keeps gets its lease extended to `lease.until()` as the step's last write (what
   * follows the step, such as a webhook delivery, starts with a whole lease however long the step
   * waited for a connection or for locks, so no other worker can take the job over meanwhile).
   */
  runJob(job: Job, lease: { owner: string; until: () => number }, now: number, body: (tx: JobTransaction) => Promise<JobDisposition>): Promise<'done' | 'lost'>;
  /**
   * Runs due jobs of pull providers (`providers`) without leases: up to `limit` of them in ONE
   * transaction, each step applied with `body`; the transaction itself is the claim (SKIP LOCKED on
   * PostgreSQL). Jobs are taken in (tenant, provider, indicator) order so concurrent workers lock
   * rows in the same order. If anything throws, nothing is committed and the error propagates.
   */
  runBatch(providers: readonly string[], now: number, limit: number, body: (tx: JobTransaction, job: Job) => Promise<JobDisposition>): Promise<{ count: number; retryAt: number | null }>;
  /** Queues the withdrawal of actions whose expiry has passed; returns how many. */
  expireDue(now: number, limit: number): Promise<number>;
  /** Earliest pending expiry, if any. */
  nextExpiry(): Promise<number | null>;
  /** Extends the leases `owner` still holds on `jobIds` to `until` (a heartbeat while they run). */
  renewLeases(owner: string, jobIds: readonly number[], until: number): Promise<number>;
  /** Gives back every lease `owner` holds (graceful shutdown). */
  releaseLeases(owner: string): Promise<number>;
  backlog(now: number): Promise<{ due: number; leased: number; expiredLeases: number }>;
}

export interface AgentConfirmation {
  /** the cursor recorded for the agent (never moves backwards) */
  confirmed: number;
  /** actions that became Completed because every registered agent has now confirmed them */
  completed: number;
}

/** Agents' confirmations of the change stream, and the completions they unlock. */
export interface AgentStore {
  /** Records that `agentId` applied the stream through `cursor` (≤ the stream head). */
  confirm(agent: { id: string; name: string; tenantId: string; provider: string }, cursor: number, now: number): Promise<AgentConfirmation>;
  /** Re-evaluates completions after agents were added or removed. */
  settle(tenantId: string, provider: string, now: number): Promise<number>;
  /** Drops changes older than `before` (keeping each stream's newest), marking streams pruned. */
  prune(before: number): Promise<number>;
}

/** Engine work per provider, for health reporting. */
export interface ProviderWorkStats {
  /** all tenants; for metrics */
  actionsByStatus(): Promise<Record<string, number>>;
  pending(tenantId: string, provider: string): Promise<{ jobs: number; retrying: number; lastError: string | null; waitingForAgents: number }>;
}

/** Topics the store announces after a commit: new engine work, and new change-stream entries. */
export type NotifyTopic = 'jobs' | 'changes';

/**
 * Wake-ups after commits. Payloads are hints, never data: a listener re-reads the database, so a
 * lost or duplicated notification costs latency, not correctness.
 */
export interface Notifier {
  notify(topic: NotifyTopic, payload: string): void;
  subscribe(topic: NotifyTopic, listener: (payload: string) => void): () => void;
  close(): Promise<void>;
}
