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
  count(tenantId: string, filter?: FilterNode): Promise<number>;
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
  /** Inserts the key unless one with the same kid exists; safe when several nodes start at once. */
  insertSigningKey(key: SigningKeyRecord): Promise<void>;
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
